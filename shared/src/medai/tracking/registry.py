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
from medai.tracking.comparison import VersionFigure, comparison_lines
from medai.tracking.errors import ModelNotFoundError
from medai.tracking.model_choice import (
    CHALLENGER,
    CHAMPION,
    VALIDATION_METRIC_TAG,
    MetricReading,
    ModelChoice,
    ModelRequest,
    choose,
    fallback_warning,
    warn_loudly,
)
from medai.tracking.store import configure_tracking

_NOT_FOUND_CODES = frozenset({"INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST"})

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "ONNX_ARTIFACT_TAG",
    "VALIDATION_METRIC_TAG",
    "RegisteredVersion",
    "aliased_figures",
    "choose_version",
    "evaluation_tags",
    "find_registered_version",
    "new_version_comparison",
    "read_validation_metric",
    "resolve_alias",
    "set_alias",
    "tag_version",
    "version_figure",
]


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


def _is_not_found(exc: MlflowException) -> bool:
    # Only "no such alias / version / model" means absent; anything else (a server error,
    # a lost connection) must not look like a missing model.
    return exc.error_code in _NOT_FOUND_CODES


def _aliased(name: str, alias: str) -> ModelVersion | None:
    try:
        return MlflowClient().get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        if not _is_not_found(exc):
            raise
        return None


def resolve_alias(
    name: str, aliases: Sequence[str] = (CHAMPION, CHALLENGER)
) -> tuple[str, ModelVersion]:
    """Return the first alias that exists and its model version.

    For commands that name the aliases themselves (``invoke deploy``); a command that
    picks the model to use goes through ``choose_version``, which applies the
    environment's rule.

    Raises:
        ModelNotFoundError: naming the model and every alias tried.
    """
    for alias in aliases:
        version = _aliased(name, alias)
        if version is not None:
            return alias, version
    tried = ", ".join(aliases)
    raise ModelNotFoundError(
        f"registered model {name!r} has no version with alias {tried}; train one first"
    )


def read_validation_metric(version: ModelVersion, metric: str | None = None) -> MetricReading:
    """The validation metric recorded on the run that trained ``version``.

    Args:
        version: The model version.
        metric: The metric's name; default: the version's ``medai.validation_metric`` tag.

    Returns:
        The reading; its value is None when the name, the run or the metric is missing.
    """
    name = metric or (version.tags or {}).get(VALIDATION_METRIC_TAG)
    if not name or not version.run_id:
        return MetricReading(name, None)
    try:
        metrics = MlflowClient().get_run(version.run_id).data.metrics
    except MlflowException as exc:
        if not _is_not_found(exc):
            raise
        return MetricReading(name, None)
    return MetricReading(name, metrics.get(name))


def choose_version(request: ModelRequest) -> tuple[ModelChoice, ModelVersion]:
    """Find the version ``request`` may use (``model_choice.choose``), warning on a fallback.

    Tracking must be configured. A fallback to an unapproved version prints one
    ``WARNING:`` line to stderr with its version, alias and validation metric.

    Raises:
        ModelRefusedError: production and only a fallback version (one line).
        ModelNotFoundError: no such version, or no version behind the aliases.
    """
    if request.version is not None:
        try:
            found = MlflowClient().get_model_version(request.model, request.version)
        except MlflowException as exc:
            if not _is_not_found(exc):
                raise
            raise ModelNotFoundError(
                f"registered model {request.model!r} has no version {request.version}"
            ) from None
        return choose(request, {}), found
    versions = {alias: _aliased(request.model, alias) for alias in request.aliases()}
    present = {alias: v for alias, v in versions.items() if v is not None}
    choice = choose(request, {alias: str(v.version) for alias, v in present.items()})
    version = present[str(choice.alias)]
    if choice.needs_warning:
        warn_loudly(fallback_warning(request, choice, read_validation_metric(version)))
    return choice, version


def version_figure(name: str, version: str, metric: str) -> VersionFigure:
    """One version's ``metric`` as its training run recorded it."""
    found = MlflowClient().get_model_version(name, version)
    return VersionFigure(str(found.version), read_validation_metric(found, metric).value)


def aliased_figures(
    name: str, metric: str, aliases: Sequence[str] = (CHAMPION, CHALLENGER)
) -> dict[str, VersionFigure]:
    """Alias -> version and ``metric`` of those ``aliases`` that exist.

    Read before training moves ``challenger``, so the new version can be compared with
    the one it replaces.
    """
    figures = {}
    for alias in aliases:
        version = _aliased(name, alias)
        if version is not None:
            figures[alias] = VersionFigure(
                str(version.version), read_validation_metric(version, metric).value
            )
    return figures


def new_version_comparison(
    *, project: str, name: str, metric: str, version: str, before: Mapping[str, VersionFigure]
) -> tuple[str, str]:
    """``comparison_lines`` for a version just registered.

    ``before`` is what ``aliased_figures`` read before the registration moved ``challenger``.
    """
    return comparison_lines(
        project=project,
        model=name,
        metric=metric,
        new=version_figure(name, version, metric),
        previous=before.get(CHALLENGER),
        champion=before.get(CHAMPION),
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
    """The project's model version behind ``alias``, else as ``model_choice`` rules.

    Without ``alias``: ``api.model_alias``, else ``api.fallback_alias`` outside
    production (with a WARNING line). ``evaluate`` and ``predict`` load through this.

    Raises:
        ModelRefusedError: production and only a fallback version.
        ModelNotFoundError: no version behind those aliases.
    """
    configure_tracking(settings.tracking, repo_root)
    request = ModelRequest.from_settings(settings, alias=alias)
    choice, version = choose_version(request)
    # No version number was requested, so the choice came through an alias.
    found_alias = choice.alias or request.primary
    return RegisteredVersion(request.model, str(version.version), found_alias, version.tags or {})


ONNX_ARTIFACT_TAG = "medai.onnx_artifact"
"""Model-version tag: run-relative path of the ONNX export that serving uses."""
