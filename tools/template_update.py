"""``invoke update-template``: merge the template's changes since a project was made.

Every project is checked before any is touched (answers pointing at a template commit,
nothing uncommitted, nothing unmerged). Conflicts are left inline for the user; copier
diffs the whole repo's index, so no other project is updated until they are resolved.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path

from tools.answers import made_from_template
from tools.errors import ToolError
from tools.new_project import run_step, tidy_imports, write_project_requirements
from tools.requirements import uv_command
from tools.structure_check import read_project
from tools.template_git import changed, check_updatable, unmerged_files


def split_made_from_template(root: Path, names: Sequence[str]) -> tuple[list[str], list[str]]:
    """``(made, skipped)``: the projects with ``.copier-answers.yml``, and those without."""
    made = [name for name in names if made_from_template(root, name)]
    return made, sorted(set(names) - set(made))


def check_all_updatable(root: Path, names: Sequence[str]) -> None:
    """Check every project before the first is updated, so none is left half-way.

    Raises:
        ToolError: From the first project that cannot be updated (status 2).
    """
    for name in names:
        check_updatable(root, name)


def update_project(root: Path, name: str, commit: str, after: Sequence[str] = ()) -> None:
    """Merge the template at ``commit`` into ``projects/<name>``; relock when its pyproject changed.

    Args:
        root: The repo root.
        name: The project.
        commit: The template commit (``template_git.template_commit``).
        after: The projects still to update after this one, named in a conflict's message.

    Raises:
        ToolError: Conflicts (status 1, naming the files and what to do next) or a failed
            step (tidy, ``uv lock``, the requirements).
    """
    import copier  # noqa: PLC0415 - only rendering needs it, and it takes a while to import

    with contextlib.chdir(root):
        copier.run_update(
            Path("projects") / name,
            defaults=True,
            overwrite=True,
            vcs_ref=commit,
            unsafe=False,
            quiet=True,
            conflict="inline",
        )
    conflicted = unmerged_files(root, f"projects/{name}")
    if conflicted:
        rest = f"; then update-template again for {', '.join(after)}" if after else ""
        raise ToolError(
            f"{name}: conflicts with template commit {commit[:12]} in {', '.join(conflicted)}: "
            f"resolve the <<<<<<< markers, git add, uv lock if pyproject.toml changed, "
            f"commit{rest}",
            1,
        )
    tidy_imports(root, name)
    if changed(root, f"projects/{name}/pyproject.toml"):
        run_step([*uv_command(), "lock", "--quiet"], root, "uv lock")
        write_project_requirements(root, name, read_project(root, name).distribution)
