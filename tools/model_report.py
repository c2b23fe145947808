"""The model registry at a glance: each project's champion and challenger and how they scored.

A project's evaluation tags its model version (``medai.tracking.registry.tag_version``):
``eval.primary_metric`` names the metric, ``eval.<metric>_mean``, ``eval.<metric>_ci_low``
and ``eval.<metric>_ci_high`` hold its value and confidence interval. This module only
reads the registry; it imports MLflow, so ``tasks.py`` imports it inside the task.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from medai.config import ConfigError, ProjectSettings
from medai.tracking.errors import TrackingUnavailableError
from medai.tracking.registry import CHALLENGER, CHAMPION
from medai.tracking.store import configure_tracking

ALIASES = (CHAMPION, CHALLENGER)
PRIMARY_METRIC_TAG = "eval.primary_metric"
_NOT_FOUND = frozenset({"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"})
_MEAN = "_mean"
NOT_EVALUATED = "not evaluated"
NO_MODEL = "no model registered"
NO_VERSION = "no version has this alias"
COLUMNS = ("project", "registered model", "alias", "version", "metric [CI]")


class ReportError(RuntimeError):
    """The registry cannot be read (server unreachable or failing); ``str()`` is one line."""


@dataclass(frozen=True)
class ReportRow:
    """One alias of one project's registered model (or why there is none)."""

    project: str
    model: str
    alias: str
    version: str
    metric: str

    def cells(self) -> tuple[str, str, str, str, str]:
        """The row's values in ``COLUMNS`` order."""
        return (self.project, self.model, self.alias, self.version, self.metric)


def _number(text: str) -> str:
    try:
        return f"{float(text):.4f}"
    except ValueError:
        return text


def _estimate(name: str, tags: Mapping[str, str]) -> str:
    mean = tags.get(f"eval.{name}{_MEAN}")
    if mean is None:
        return f"{name}: no eval.{name}{_MEAN} tag"
    low, high = tags.get(f"eval.{name}_ci_low"), tags.get(f"eval.{name}_ci_high")
    interval = f" [{_number(low)}, {_number(high)}]" if low is not None and high is not None else ""
    return f"{name} {_number(mean)}{interval}"


def metric_summary(tags: Mapping[str, str]) -> str:
    """The primary metric with its CI, else every ``eval.*_mean`` metric; or ``not evaluated``."""
    primary = tags.get(PRIMARY_METRIC_TAG)
    if primary:
        names = [primary]
    else:
        names = sorted(
            key.removeprefix("eval.").removesuffix(_MEAN)
            for key in tags
            if key.startswith("eval.") and key.endswith(_MEAN)
        )
    if not names:
        return NOT_EVALUATED
    return "; ".join(_estimate(name, tags) for name in names)


def _not_found(exc: MlflowException) -> bool:
    return exc.error_code in _NOT_FOUND


def model_rows(
    client: MlflowClient, project: str, model_name: str, aliases: Sequence[str] = ALIASES
) -> list[ReportRow]:
    """One row per alias of ``model_name``, or one ``no model registered`` row.

    Raises:
        MlflowException: anything but "not found" (a failing server must not look empty).
    """
    try:
        client.get_registered_model(model_name)
    except MlflowException as exc:
        if not _not_found(exc):
            raise
        return [ReportRow(project, model_name, "-", "-", NO_MODEL)]
    rows = []
    for alias in aliases:
        try:
            version = client.get_model_version_by_alias(model_name, alias)
        except MlflowException as exc:
            if not _not_found(exc):
                raise
            rows.append(ReportRow(project, model_name, alias, "-", NO_VERSION))
            continue
        summary = metric_summary(dict(version.tags))
        rows.append(ReportRow(project, model_name, alias, str(version.version), summary))
    return rows


def load_project_settings(package: str) -> ProjectSettings:
    """The settings of ``<package>``, as the project's commands resolve them.

    ``<package>.settings`` loads them with its ``load()`` or, in projects built on
    ``medai.project``, its ``BINDING.load()``.

    Raises:
        ConfigError: the config does not validate, or the module has no loader.
        ImportError: the project has no settings module.
    """
    module = importlib.import_module(f"{package}.settings")
    load = getattr(module, "load", None) or getattr(getattr(module, "BINDING", None), "load", None)
    if not callable(load):
        raise ConfigError(f"{package}.settings", None, "has neither load() nor BINDING.load()")
    settings = load()
    if not isinstance(settings, ProjectSettings):
        raise ConfigError(f"{package}.settings", None, "load() did not return ProjectSettings")
    return settings


def _store_missing(uri: str) -> bool:
    """An embedded SQLite store that does not exist yet holds no model (and is not created)."""
    return uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists()


def project_rows(root: Path, project: str, package: str) -> list[ReportRow]:
    """The rows of one project, from the registry its own settings point at.

    Raises:
        ReportError: the tracking server is unreachable or fails.
    """
    try:
        settings = load_project_settings(package)
    except (ConfigError, ImportError) as exc:
        return [ReportRow(project, "?", "-", "-", f"settings do not load: {exc}")]
    name = settings.registered_model_name()
    try:
        uri = configure_tracking(settings.tracking, root)
    except TrackingUnavailableError as exc:
        raise ReportError(str(exc)) from None
    if _store_missing(uri):
        return [ReportRow(project, name, "-", "-", NO_MODEL)]
    try:
        return model_rows(MlflowClient(tracking_uri=uri, registry_uri=uri), project, name)
    except MlflowException as exc:
        first = (str(exc.message).strip().splitlines() or [exc.error_code])[0]
        raise ReportError(f"MLflow registry at {uri} failed: {first}") from None


def format_table(rows: Iterable[ReportRow]) -> str:
    """A plain-text table with a header, columns padded to their widest cell."""
    lines = [COLUMNS, *(row.cells() for row in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(COLUMNS))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def registry_report(root: Path, projects: Mapping[str, str]) -> str:
    """The table for ``projects`` (folder name -> import name), in the given order.

    Raises:
        ReportError: the tracking server is unreachable or fails.
    """
    rows = [
        row for project, package in projects.items() for row in project_rows(root, project, package)
    ]
    return format_table(rows)
