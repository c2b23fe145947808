"""A project's ``scripts/<name>.py``: where it is, what its exit status means, one per project.

The scripts say why they fail themselves (``medai.cli.run_guarded``), so a task adds a
line only when a script could not: killed, e.g. by the out-of-memory killer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

from tools.errors import ToolError

SCRIPT_REPORTED = frozenset({1, 2})
"""Exit statuses after which a project script has said why itself (medai.cli.run_guarded:
2 and one ``error:`` line for a user error, 1 for a refusal or a traceback), so a task
adds no line of its own and the user reads the error once."""


def project_script(root: Path, project: str, name: str) -> Path:
    """``projects/<project>/scripts/<name>.py``.

    Raises:
        ToolError: The project has no such script (status 2, one ``error:`` line).
    """
    script = root / "projects" / project / "scripts" / f"{name}.py"
    if not script.is_file():
        raise ToolError(f"error: project {project!r} has no scripts/{name}.py")
    return script


def script_failure(status: int, project: str, task_name: str) -> ToolError:
    """The error to stop with after a script exited with ``status`` (not 0).

    No line of its own after a status the script reports itself (``SCRIPT_REPORTED``).
    """
    if status in SCRIPT_REPORTED:
        return ToolError(None, status)
    return ToolError(
        f"error: {task_name} for project {project!r} stopped with exit status "
        f"{status} before it could say why (killed, e.g. out of memory?)",
        status or 1,
    )


def run_in_turn(
    projects: Sequence[str],
    name: str,
    run_one: Callable[[str], object],
    report: Callable[[str], None] | None = None,
) -> None:
    """Run ``run_one`` per project in turn; stop at the first failure.

    With several projects a summary line each follows (ok, FAILED, not run); it names
    the exit status only, since the error itself was printed once, just above it.

    Args:
        projects: The projects, in order.
        name: The task's name, for the summary lines.
        run_one: Runs one project; raises ``ToolError`` when it fails.
        report: Where the summary goes (one call with all its lines); default stdout.

    Raises:
        ToolError: From the first project that fails, after the summary.
    """
    if len(projects) == 1:
        run_one(projects[0])
        return
    summary: list[str] = []
    try:
        for project in projects:
            start = time.perf_counter()
            try:
                run_one(project)
            except ToolError as failure:
                summary.append(f"{project}: {name} FAILED (exit status {failure.code})")
                raise
            summary.append(f"{project}: {name} ok ({time.perf_counter() - start:.0f} s)")
    finally:
        summary.extend(f"{p}: {name} not run" for p in projects[len(summary) :])
        (report or _print_flushed)("\n".join(summary))


def _print_flushed(text: str) -> None:
    print(text, flush=True)  # noqa: T201 - the task's report, before the error line
