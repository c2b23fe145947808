"""Model registry: versions move between roles with aliases, never by copying files."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from medai.tracking.errors import ModelNotFoundError

_NOT_FOUND_CODES = frozenset({"INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST"})

CHAMPION = "champion"
CHALLENGER = "challenger"


def set_alias(name: str, alias: str, version: str | int) -> None:
    """Point ``alias`` of registered model ``name`` at ``version``."""
    MlflowClient().set_registered_model_alias(name, alias, str(version))


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


ONNX_ARTIFACT_TAG = "medai.onnx_artifact"
"""Model-version tag: run-relative path of the ONNX export that serving uses."""
