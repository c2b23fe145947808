"""A project's ``.copier-answers.yml``: was it made from the template, from which commit.

copier writes the file when it renders a project and reads it on ``copier update``;
``_commit`` is the template commit the project was last in step with.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from tools.errors import ToolError

ANSWERS_FILE = ".copier-answers.yml"


def answers_path(root: Path, project: str) -> Path:
    """Where ``projects/<project>``'s answers are (the file need not exist)."""
    return root / "projects" / project / ANSWERS_FILE


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
