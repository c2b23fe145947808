"""A project's ``requirements.txt`` and ``requirements-dev.txt``: exported from ``uv.lock``.

The standard layout asks for both files; in this uv workspace they are views of the one
lock file, so pip users (and scanners that read requirements files) see exactly the
versions uv installs. See docs/project-structure.md for why these flags.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

COMMON_FLAGS = ("--frozen", "--no-hashes", "--no-emit-workspace", "--no-header")
"""Exactly the lock (no re-resolve), no hashes (readable diffs), and no workspace members:
``medai`` and the project itself are installed from the repo, not from an index."""

EXPORTS: dict[str, tuple[str, ...]] = {
    # Everything the project's scripts need: serving (base install) plus the `train` extra.
    "requirements.txt": ("--all-extras", "--no-default-groups"),
    # The above plus the project's dependency groups (test) and the root `dev` group
    # (invoke, nox, ruff, mypy), which its Makefile targets call.
    "requirements-dev.txt": ("--all-extras", "--all-groups"),
}


class ExportError(RuntimeError):
    """``uv export`` failed (no lock file, unknown package); the message is uv's first line."""


def uv_command() -> list[str]:
    """The ``uv`` to call: the one on PATH, else the one installed in this interpreter."""
    found = shutil.which("uv")
    return [found] if found else [sys.executable, "-m", "uv"]


def export_flags(distribution: str, file_name: str) -> list[str]:
    """The ``uv export`` arguments that produce ``file_name`` for ``distribution``."""
    return ["export", "--package", distribution, *EXPORTS[file_name], *COMMON_FLAGS]


def header(project: str, distribution: str, file_name: str) -> str:
    """The comment lines on top of a generated file: who makes it and how."""
    command = shlex.join(["uv", *export_flags(distribution, file_name)])
    return (
        f"# Generated from uv.lock by `uv run invoke requirements --project={project}`; "
        "do not edit.\n"
        f"# = {command}\n"
        "# The workspace members (the shared library `medai` and the project) are not listed:\n"
        "# install them from the repo, e.g. `pip install --no-deps ./shared ./projects/<name>`.\n"
    )


def expected_requirements(root: Path, project: str, distribution: str, file_name: str) -> str:
    """What ``projects/<project>/<file_name>`` must contain for the current ``uv.lock``.

    Raises:
        ExportError: ``uv export`` failed.
    """
    result = subprocess.run(  # noqa: S603 - fixed argv, no shell
        [*uv_command(), *export_flags(distribution, file_name)],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        first = lines[0] if lines else f"exit status {result.returncode}"
        raise ExportError(f"uv export --package {distribution} failed: {first}")
    return header(project, distribution, file_name) + result.stdout


def write_requirements(root: Path, project: str, distribution: str) -> list[Path]:
    """Rewrite both requirements files of a project from ``uv.lock``; returns the paths written.

    Raises:
        ExportError: ``uv export`` failed.
    """
    written = []
    for file_name in EXPORTS:
        path = root / "projects" / project / file_name
        path.write_text(
            expected_requirements(root, project, distribution, file_name), encoding="utf-8"
        )
        written.append(path)
    return written
