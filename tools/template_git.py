"""What git says about the template and a project: the commit to render, whether to update.

copier renders from a git commit; these checks make sure that commit exists in every
clone (no uncommitted template edits) and that a project can be merged without losing
work (committed, nothing unmerged).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

from tools.answers import answers_path, recorded_commit
from tools.errors import ToolError

TEMPLATE_PATHS = ("copier.yml", "template")
"""What ``copier`` renders from: the questions at the root, the files under template/."""


CHECKPOINT_IDENTITY = {
    "GIT_AUTHOR_NAME": "invoke update-template",
    "GIT_AUTHOR_EMAIL": "update-template@localhost",
    "GIT_COMMITTER_NAME": "invoke update-template",
    "GIT_COMMITTER_EMAIL": "update-template@localhost",
}
"""Who makes the temporary checkpoint commits: they never outlive the update."""


def git(root: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """Run git in ``root`` (with ``env`` added to the environment); its stdout, stripped.

    Raises:
        ToolError: git failed (status 2), with git's first line.
    """
    result = subprocess.run(  # noqa: S603 - fixed git argv
        ["git", *args],  # noqa: S607 - git from PATH, as every developer runs it
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **env} if env else None,
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

    Both layers' answers are checked when the kind layer's exist (a project rendered
    before the split has only the common ones; the update writes the kind's).

    Raises:
        ToolError: Status 2, naming what to do.
    """
    answers = answers_path(root, name)
    if not answers.is_file():
        raise ToolError(
            f"projects/{name} has no .copier-answers.yml: it was not made from the template"
        )
    for path in (answers, answers_path(root, name, "kind")):
        if not path.is_file():
            continue
        recorded = recorded_commit(path)
        if not has_template(root, recorded):
            raise ToolError(
                f"projects/{name}/{path.name}: _commit {recorded or '(none)'} has no "
                "copier.yml in this clone; set _commit to the template commit the project was "
                "last in step with"
            )
    if changed(root, f"projects/{name}"):
        raise ToolError(f"projects/{name} has uncommitted changes; commit them first")
    unmerged = unmerged_files(root)
    if unmerged:
        raise ToolError(f"resolve the unmerged files first (git add them), e.g. {unmerged[0]}")


@contextlib.contextmanager
def checkpoints(root: Path, path: str) -> Iterator[Callable[[], None]]:
    """Temporary commits of ``path`` between copier updates; HEAD is back where it was after.

    ``copier update`` refuses a project with uncommitted changes, so the second layer's
    update needs the first layer's result committed. Each call of the yielded function
    stages ``path`` and points HEAD at a commit of the index (``commit-tree``, no hooks,
    a fixed identity); on leaving, however it is left, HEAD's branch is moved back to the
    commit it had. The updates' changes stay staged in the index for the user to review
    and commit; nothing is checked out, so no file changes.

    Raises:
        ToolError: A git step failed (status 2).
    """
    original = git(root, "rev-parse", "HEAD")

    def checkpoint() -> None:
        if not changed(root, path):
            return
        git(root, "add", "-A", "--", path)
        tree = git(root, "write-tree")
        parent = git(root, "rev-parse", "HEAD")
        message = "update-template checkpoint (temporary)"
        commit = git(
            root, "commit-tree", tree, "-p", parent, "-m", message, env=CHECKPOINT_IDENTITY
        )
        git(root, "update-ref", "-m", message, "HEAD", commit)

    try:
        yield checkpoint
    finally:
        if git(root, "rev-parse", "HEAD") != original:
            git(
                root, "update-ref", "-m", "update-template: back from checkpoints", "HEAD", original
            )
