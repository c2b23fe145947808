"""The monorepo's own tooling behind ``tasks.py`` and ``noxfile.py``: checks and reports.

Run from the repo root (Invoke and ``python -m tools.<module>`` put the root on
``sys.path``); nothing here is installed or imported by a project.
"""
