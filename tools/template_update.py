"""``invoke update-template``: merge the template's changes since a project was made.

Every project is checked before any is touched (answers pointing at a template commit,
nothing uncommitted, nothing unmerged). Each of the template's layers (common, then the
kind's) is a ``copier update`` with its own answers file. Conflicts are left inline for
the user; copier diffs the whole repo's index, so no other layer or project is updated
until they are resolved.

A project rendered before the template was split has only ``.copier-answers.yml``: its
update first writes the kind layer's answers from it (same answers, same commit), then
updates both layers. The old commit renders every file in one tree, so each layer's update
leaves the other layer's files out of its merge (``exclude``), or copier would apply the
project's edits of them twice.
"""

from __future__ import annotations

import contextlib
import glob
import re
from collections.abc import Sequence
from pathlib import Path

from tools.answers import LAYERS, answers_path, kind_answers_text, made_from_template, user_answers
from tools.errors import ToolError
from tools.new_project import layer_files, run_step, tidy_imports, write_project_requirements
from tools.requirements import uv_command
from tools.structure_check import read_project
from tools.template_git import changed, check_updatable, checkpoints, unmerged_files


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


def write_missing_kind_answers(root: Path, name: str) -> bool:
    """Give a project rendered before the split its kind layer's answers; whether it had none.

    Raises:
        ToolError: The common answers are not a mapping (status 2).
    """
    kind_answers = answers_path(root, name, "kind")
    if kind_answers.is_file():
        return False
    kind_answers.write_text(kind_answers_text(answers_path(root, name)), encoding="utf-8")
    return True


_NUMERIC_COMMIT = re.compile(r"^_commit: (?P<digits>[0-9]+)[ \t]*$", re.MULTILINE)


def quote_numeric_commits(root: Path, name: str) -> None:
    """Quote a digits-only ``_commit`` in the project's answers files, so copier reads text.

    A short hash of digits only (``9667696``) is a YAML number; copier refuses it as the
    template's ref ("string_type") and no update could start.
    """
    for layer in LAYERS:
        path = answers_path(root, name, layer)
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            quoted = _NUMERIC_COMMIT.sub(lambda match: f"_commit: '{match['digits']}'", text)
            if quoted != text:
                path.write_text(quoted, encoding="utf-8")


def exclusions(files: Sequence[str]) -> list[str]:
    """The ``exclude`` patterns of copier that match exactly these project-relative paths."""
    return [f"/{glob.escape(path)}" for path in files]


def update_layer(root: Path, name: str, layer: str, commit: str, exclude: Sequence[str]) -> None:
    """``copier update -a <the layer's answers>`` of ``projects/<name>`` to ``commit``."""
    import copier  # noqa: PLC0415 - only rendering needs it, and it takes a while to import

    with contextlib.chdir(root):
        copier.run_update(
            Path("projects") / name,
            answers_file=LAYERS[layer],
            data={"layer": layer},
            exclude=exclusions(exclude),
            defaults=True,
            overwrite=True,
            vcs_ref=commit,
            unsafe=False,
            quiet=True,
            conflict="inline",
        )


def update_project(root: Path, name: str, commit: str, after: Sequence[str] = ()) -> None:
    """Merge the template at ``commit`` into ``projects/<name>``; relock when its pyproject changed.

    The common layer is updated first, then the kind's. Between them the project's changes
    are held in a temporary commit (``template_git.checkpoints``), since copier updates
    only a committed project; afterwards HEAD is where it was and the merged changes are
    staged (what tidying imports restyles on top is not).

    Args:
        root: The repo root.
        name: The project.
        commit: The template commit (``template_git.template_commit``).
        after: The projects still to update after this one, named in a conflict's message.

    Raises:
        ToolError: Conflicts (status 1, naming the files and what to do next) or a failed
            step (tidy, ``uv lock``, the requirements).
    """
    project = f"projects/{name}"
    files = layer_files(root, user_answers(answers_path(root, name)), commit)
    with checkpoints(root, project) as checkpoint:
        write_missing_kind_answers(root, name)
        quote_numeric_commits(root, name)
        checkpoint()
        for layer in LAYERS:
            others = [path for other, listed in files.items() if other != layer for path in listed]
            update_layer(root, name, layer, commit, exclude=others)
            conflicted = unmerged_files(root, project)
            if conflicted:
                rest = f"; then update-template again for {', '.join(after)}" if after else ""
                raise ToolError(
                    f"{name}: conflicts with template commit {commit[:12]} in "
                    f"{', '.join(conflicted)}: resolve the <<<<<<< markers, git add, uv lock if "
                    f"pyproject.toml changed, commit, and update-template again{rest}",
                    1,
                )
            checkpoint()
    tidy_imports(root, name)
    if changed(root, f"{project}/pyproject.toml"):
        run_step([*uv_command(), "lock", "--quiet"], root, "uv lock")
        write_project_requirements(root, name, read_project(root, name).distribution)
