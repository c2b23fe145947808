"""What git says about the template and a project: the commit to render, whether to update.

copier renders from a git commit; these checks make sure that commit exists in every
clone (no uncommitted template edits) and that a project can be merged without losing
work (committed, nothing unmerged).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from tools.answers import answers_path, recorded_commit
from tools.errors import ToolError

TEMPLATE_PATHS = ("copier.yml", "template")
"""What ``copier`` renders from: the questions at the root, the files under template/."""


def git(root: Path, *args: str) -> str:
    """Run git in ``root``; its stdout, stripped.

    Raises:
        ToolError: git failed (status 2), with git's first line.
    """
    result = subprocess.run(  # noqa: S603 - fixed git argv
        ["git", *args],  # noqa: S607 - git from PATH, as every developer runs it
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines() or [f"exit status {result.returncode}"]
        raise ToolError(f"git {' '.join(args)} failed: {lines[0]}")
    return result.stdout.strip()


def short_head(root: Path) -> str | None:
    """HEAD's short commit, or None outside a git work tree (or before the first commit)."""
    try:
        return git(root, "rev-parse", "--short", "HEAD")
    except ToolError:
        return None


def template_commit(root: Path) -> str:
    """HEAD's commit, which the template is rendered from; refuses uncommitted template edits.

    A commit SHA, never "HEAD": given a ref to a dirty tree, copier renders a temporary
    commit of the uncommitted files and records its hash, which exists in no clone, so
    the project could never be updated from it.

    Raises:
        ToolError: The template has uncommitted changes (status 2).
    """
    dirty = git(root, "status", "--porcelain", "--", *TEMPLATE_PATHS)
    if dirty:
        files = ", ".join(line.split(maxsplit=1)[-1] for line in dirty.splitlines())
        raise ToolError(f"commit the template first; uncommitted: {files}")
    return git(root, "rev-parse", "HEAD")


def has_template(root: Path, commit: str) -> bool:
    """Whether ``commit`` exists in this clone and holds the template's ``copier.yml``."""
    if not commit:
        return False
    listed = subprocess.run(  # noqa: S603 - fixed git argv
        ["git", "cat-file", "-e", f"{commit}:copier.yml"],  # noqa: S607
        cwd=root,
        capture_output=True,
        check=False,
    )
    return listed.returncode == 0


def changed(root: Path, path: str) -> bool:
    """Whether ``path`` (relative to ``root``) has uncommitted or untracked changes."""
    return bool(git(root, "status", "--porcelain", "--", path))


def unmerged_files(root: Path, path: str | None = None) -> list[str]:
    """Files git marks unmerged (conflicts not yet ``git add``-ed), under ``path`` if given."""
    listed = git(root, "diff", "--name-only", "--diff-filter=U", *(["--", path] if path else []))
    return listed.splitlines()


def check_updatable(root: Path, name: str) -> None:
    """The project has answers pointing at a commit with the template, and no local changes.

    Raises:
        ToolError: Status 2, naming what to do.
    """
    answers = answers_path(root, name)
    if not answers.is_file():
        raise ToolError(
            f"projects/{name} has no .copier-answers.yml: it was not made from the template"
        )
    recorded = recorded_commit(answers)
    if not has_template(root, recorded):
        raise ToolError(
            f"projects/{name}/.copier-answers.yml: _commit {recorded or '(none)'} has no "
            "copier.yml in this clone; set _commit to the template commit the project was last "
            "in step with"
        )
    if changed(root, f"projects/{name}"):
        raise ToolError(f"projects/{name} has uncommitted changes; commit them first")
    unmerged = unmerged_files(root)
    if unmerged:
        raise ToolError(f"resolve the unmerged files first (git add them), e.g. {unmerged[0]}")
