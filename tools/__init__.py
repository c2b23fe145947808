"""The monorepo's own tooling behind ``tasks.py`` and ``noxfile.py``: checks, reports, steps.

The tasks only parse their options and call these modules (or run a command); a helper
that stops a task raises ``tools.errors.ToolError`` with its one line and exit status.

Run from the repo root (Invoke and ``python -m tools.<module>`` put the root on
``sys.path``); nothing here is installed or imported by a project.
"""
