"""The outcome a project's deploy script writes with ``--result-file`` (medai.deployment.cli).

``invoke deploy`` reads the champion version from this JSON, never from the script's
printed lines, which are for people. The format's writer is
``medai.deployment.cli.DeployResult``; this reader is kept free of the shared library's
imports (seconds of them) and checked against that writer in tests/test_deploy_result.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.errors import ToolError

OUTCOMES = frozenset({"promoted", "already_champion", "refused"})


@dataclass(frozen=True)
class DeployOutcome:
    """What the deploy decided.

    Attributes:
        outcome: ``promoted``, ``already_champion`` or ``refused``.
        version: The champion after the command, or None when there is none.
        model: The registered model's name.
        environment: The environment deployed to.
    """

    outcome: str
    version: str | None
    model: str
    environment: str

    @property
    def champion_in_place(self) -> bool:
        """Whether a champion now serves what this deploy asked for (promoted, or already)."""
        return self.outcome in {"promoted", "already_champion"} and self.version is not None


def _field(data: dict[str, Any], key: str, path: Path, *, optional: bool = False) -> str | None:
    value = data.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise ToolError(f"{path}: {key}: expected a non-empty string, got {value!r}")
    return value


def read_deploy_outcome(path: Path) -> DeployOutcome:
    """Read and check ``path``.

    Raises:
        ToolError: The file is missing (the script wrote none), not JSON, or a field is
            missing or of the wrong type (status 2, naming the file and the field).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ToolError(f"the deploy script wrote no result file ({path})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ToolError(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise ToolError(f"{path}: expected a JSON object, got {type(data).__name__}")
    outcome = _field(data, "outcome", path)
    if outcome not in OUTCOMES:
        raise ToolError(f"{path}: outcome: expected one of {sorted(OUTCOMES)}, got {outcome!r}")
    return DeployOutcome(
        outcome=outcome,
        version=_field(data, "version", path, optional=True),
        model=str(_field(data, "model", path)),
        environment=str(_field(data, "environment", path)),
    )
