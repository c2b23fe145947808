"""A project's copier answers: was it made from the template, from which commit, per layer.

A project is rendered in two layers (copier.yml): the common files, whose answers are
``.copier-answers.yml``, and its kind's files, whose answers are
``.copier-answers.kind.yml``. copier writes each file when it renders its layer and reads
it on ``copier update -a FILE``; ``_commit`` is the template commit the layer was last in
step with. A project rendered before the split has only the first file (no ``layer``).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from tools.errors import ToolError

ANSWERS_FILE = ".copier-answers.yml"
KIND_ANSWERS_FILE = ".copier-answers.kind.yml"
LAYERS = {"common": ANSWERS_FILE, "kind": KIND_ANSWERS_FILE}
"""The template's layers in the order they are rendered, each with its answers file."""
ANSWERS_HEADER = (
    "# Changes here will be overwritten by Copier; do not edit by hand.\n"
    "# Update the project to a newer template: uv run invoke update-template --project=<name>\n"
)
"""The comment copier writes above the answers (template/*/{{_copier_conf.answers_file}})."""


def answers_path(root: Path, project: str, layer: str = "common") -> Path:
    """Where ``projects/<project>``'s answers of ``layer`` are (the file need not exist)."""
    return root / "projects" / project / LAYERS[layer]


def made_from_template(root: Path, project: str) -> bool:
    """Whether the project has answers, i.e. ``invoke new`` (copier) made it."""
    return answers_path(root, project).is_file()


def read_answers(path: Path) -> dict[str, object]:
    """The answers as a mapping.

    Raises:
        ToolError: Not YAML, or not a mapping (status 2, naming the file).
    """
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        first = str(exc).strip().splitlines()[0]
        raise ToolError(f"{path}: not valid YAML ({first})") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ToolError(
            f"{path}: expected a mapping of copier answers, got {type(loaded).__name__}"
        )
    return {str(key): value for key, value in loaded.items()}


def recorded_commit(path: Path) -> str:
    """The answers' ``_commit`` (empty when there is none).

    A hash of digits only is a YAML number unless quoted; it is read back as its digits.

    Raises:
        ToolError: ``_commit`` is neither text nor a number (status 2), or the file is
            not a mapping.
    """
    commit = read_answers(path).get("_commit")
    if commit is None:
        return ""
    if isinstance(commit, bool) or not isinstance(commit, str | int):
        raise ToolError(
            f"{path}: _commit: expected a commit hash or tag, got {type(commit).__name__}"
        )
    return str(commit).strip()


def user_answers(path: Path) -> dict[str, object]:
    """The answers a user gave (project_name, kind, ...), without copier's ``_`` keys and ``layer``.

    Raises:
        ToolError: The file is not a mapping (status 2).
    """
    return {
        key: value
        for key, value in read_answers(path).items()
        if not key.startswith("_") and key != "layer"
    }


def kind_answers_text(common_answers: Path) -> str:
    """The kind layer's answers file for a project rendered before the split.

    The same answers and ``_commit`` as its ``.copier-answers.yml``, with ``layer: kind``:
    the pre-split template rendered the kind's files from the same commit, so ``copier
    update -a .copier-answers.kind.yml`` merges the kind's changes since then.

    Raises:
        ToolError: The common answers are not a mapping (status 2).
    """
    answers = {**read_answers(common_answers), "layer": "kind"}
    body = yaml.safe_dump(dict(sorted(answers.items())), default_flow_style=False, width=88)
    return ANSWERS_HEADER + body
