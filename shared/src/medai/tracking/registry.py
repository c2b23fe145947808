"""Model registry: versions move between roles with aliases, never by copying files."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from medai.config.sections import ProjectSettings
from medai.metrics.bootstrap import Estimate
from medai.tracking.errors import ModelNotFoundError
from medai.tracking.store import configure_tracking

_NOT_FOUND_CODES = frozenset({"INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST"})

CHAMPION = "champion"
CHALLENGER = "challenger"


def set_alias(name: str, alias: str, version: str | int) -> None:
    """Point ``alias`` of registered model ``name`` at ``version``."""
    MlflowClient().set_registered_model_alias(name, alias, str(version))


def evaluation_tags(
    primary_metric: str, estimate: Estimate, run_id: str, data_digest: str
) -> dict[str, str]:
    """``eval.*`` tags of an evaluated model version, the same for every kind of project.

    ``invoke report`` (tools/model_report.py) reads them: the primary metric's name,
    its mean and confidence interval, the evaluation run and the evaluation data's digest.
    """
    figures = estimate.as_dict(primary_metric)
    return {
        "eval.primary_metric": primary_metric,
        **{f"eval.{key}": f"{value:.4f}" for key, value in figures.items()},
        "eval.run_id": run_id,
        "eval.data_digest": data_digest,
    }


def tag_version(name: str, version: str | int, tags: Mapping[str, str]) -> None:
    """Copy tags (lineage, metrics) onto a model version so the registry is self-describing."""
    client = MlflowClient()
    for key, value in tags.items():
        client.set_model_version_tag(name, str(version), key, value)


def resolve_alias(
    name: str, aliases: Sequence[str] = (CHAMPION, CHALLENGER)
) -> tuple[str, ModelVersion]:
    """Return the first alias that exists and its model version.

    Raises:
        ModelNotFoundError: naming the model and every alias tried.
    """
    client = MlflowClient()
    for alias in aliases:
        try:
            return alias, client.get_model_version_by_alias(name, alias)
        except MlflowException as exc:
            # Only "no such alias / model" means try the next alias; anything else
            # (a server error, a lost connection) must not look like a missing model.
            if exc.error_code not in _NOT_FOUND_CODES:
                raise
            continue
    tried = ", ".join(aliases)
    raise ModelNotFoundError(
        f"registered model {name!r} has no version with alias {tried}; train one first"
    )


@dataclass(frozen=True)
class RegisteredVersion:
    """A model version found by its alias, with what a kit reads before loading it."""

    name: str
    number: str
    alias: str
    tags: Mapping[str, str]

    @property
    def where(self) -> str:
        """``<name> version <number>``, for messages."""
        return f"{self.name} version {self.number}"


def find_registered_version(
    settings: ProjectSettings, repo_root: Path, alias: str | None = None
) -> RegisteredVersion:
    """The project's model version behind ``alias`` (default: champion, else challenger).

    Raises:
        ModelNotFoundError: no version behind those aliases.
    """
    configure_tracking(settings.tracking, repo_root)
    name = settings.registered_model_name()
    found_alias, version = resolve_alias(name, [alias] if alias else [CHAMPION, CHALLENGER])
    return RegisteredVersion(name, str(version.version), found_alias, version.tags or {})


ONNX_ARTIFACT_TAG = "medai.onnx_artifact"
"""Model-version tag: run-relative path of the ONNX export that serving uses."""
