"""ct-seg's entry into MLflow tracking: the shared run context, with this project's defaults."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import mlflow

from ct_seg.settings import CtSegSettings, repo_root
from medai.data import DataManifest
from medai.tracking.runs import Lineage, tracked_run


@contextmanager
def project_run(
    settings: CtSegSettings,
    *,
    context: str,
    manifest: DataManifest | None = None,
    extra_tags: Mapping[str, str] | None = None,
) -> Iterator[tuple[mlflow.ActiveRun, Lineage]]:
    """An MLflow run in ct-seg's experiment, tagged with lineage and the resolved config."""
    with tracked_run(
        settings, repo_root(), manifest=manifest, context=context, extra_tags=extra_tags
    ) as pair:
        yield pair
