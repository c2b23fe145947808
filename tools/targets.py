"""What ``--project`` names: a project, ``all``, the non-project check targets, ``affected``.

Every task resolves its ``--project`` here, so an unknown name is refused the same way
everywhere: status 2 and the list of known names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tools.affected import AffectedError, affected_since
from tools.errors import ToolError
from tools.projects import known_projects

ALL = "all"
AFFECTED = "affected"
DEFAULT_BASE = "origin/main"
NON_PROJECT_TARGETS = ("shared", "tooling")
"""Test/lint targets that are not projects: the shared library and the repo's own tooling."""


def resolve_projects(
    root: Path, project: str, *, allow_all: bool, extra: Sequence[str] = ()
) -> list[str]:
    """Expand ``--project``; an unknown name stops with the list of known ones.

    Args:
        root: The repo root.
        project: A project folder name, or ``all``.
        allow_all: Whether ``all`` is accepted.
        extra: Further accepted names (e.g. ``shared`` for checks).

    Raises:
        ToolError: Status 2, one line naming the known names.
    """
    projects = known_projects(root)
    known = [*projects, *extra]
    if project == ALL and allow_all:
        return projects
    if project not in known:
        choices = ", ".join([*known, ALL] if allow_all else known)
        raise ToolError(f"error: unknown project {project!r}; known: {choices}")
    return [project]


@dataclass(frozen=True)
class CheckSelection:
    """The nox targets of a check task, and the lines that say why them.

    Attributes:
        targets: The targets to name after ``--``; empty means every target (nox's default).
        notes: Lines to print first (why these targets were chosen).
        run: False when nothing is affected: no check is started.
    """

    targets: tuple[str, ...]
    notes: tuple[str, ...] = ()
    run: bool = True


def check_targets(root: Path, project: str, base: str = DEFAULT_BASE) -> CheckSelection:
    """The nox targets for a check task's ``--project`` (``affected``: touched since ``base``).

    Raises:
        ToolError: An unknown name, or git could not compare with ``base`` (status 2).
    """
    if project == ALL:
        return CheckSelection(())
    if project != AFFECTED:
        return CheckSelection(
            tuple(resolve_projects(root, project, allow_all=False, extra=NON_PROJECT_TARGETS))
        )
    try:  # committed, staged, unstaged and untracked changes all count
        found = affected_since(root, base, include_worktree=True, projects=known_projects(root))
    except AffectedError as exc:
        raise ToolError(f"error: {exc}") from None
    if not found.targets:
        return CheckSelection(
            (), (*found.reasons, f"nothing affected since {base}: no checks to run"), run=False
        )
    return CheckSelection(tuple(found.targets), tuple(found.reasons))
