"""A run context that records the lineage every run needs to be reproducible."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.data.pandas_dataset import from_pandas
from mlflow.entities import RunStatus

from medai.config.loader import settings_as_dict, settings_as_yaml, settings_hash
from medai.config.sections import ProjectSettings
from medai.data.manifest import DataManifest
from medai.errors import TrainingPreempted
from medai.tracking.lineage import GitState, git_state, lock_file_hash
from medai.tracking.store import configure_tracking, ensure_experiment, experiment_artifact_location

TAG_PREFIX = "medai."
_MAX_PARAM_LENGTH = 6000


@dataclass(frozen=True)
class Lineage:
    """Everything needed to say what produced a run."""

    project: str
    environment: str
    git: GitState
    config_hash: str
    data_hash: str
    lock_hash: str

    def tags(self) -> dict[str, str]:
        """The lineage as MLflow tags (also copied onto registered model versions)."""
        return {
            f"{TAG_PREFIX}project": self.project,
            f"{TAG_PREFIX}environment": self.environment,
            f"{TAG_PREFIX}git_commit": self.git.commit,
            f"{TAG_PREFIX}git_dirty": str(self.git.dirty).lower(),
            f"{TAG_PREFIX}git_branch": self.git.branch,
            f"{TAG_PREFIX}config_hash": self.config_hash,
            f"{TAG_PREFIX}data_hash": self.data_hash,
            f"{TAG_PREFIX}uv_lock_hash": self.lock_hash,
        }


def collect_lineage(
    settings: ProjectSettings, repo_root: Path, manifest: DataManifest | None
) -> Lineage:
    """Gather git state, hashes of config, data and lock file."""
    return Lineage(
        project=settings.project,
        environment=settings.environment,
        git=git_state(repo_root),
        config_hash=settings_hash(settings),
        data_hash=manifest.digest if manifest is not None else "none",
        lock_hash=lock_file_hash(repo_root),
    )


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Flatten nested settings into dotted MLflow params (values cut to MLflow's limit)."""
    flat: dict[str, str] = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{dotted}."))
        else:
            flat[dotted] = json.dumps(value) if not isinstance(value, str) else value
            flat[dotted] = flat[dotted][:_MAX_PARAM_LENGTH]
    return flat


def log_manifest(manifest: DataManifest, context: str) -> None:
    """Log the dataset as an MLflow input (so the UI links runs to data) and as a table."""
    table = pd.DataFrame(manifest.as_rows())
    with warnings.catch_warnings():
        # MLflow registers two local-file source types and warns that a path matches
        # both; and it warns that the size column is an integer. Neither is actionable.
        warnings.simplefilter("ignore", UserWarning)
        dataset = from_pandas(
            table, source=manifest.root.as_uri(), name=manifest.name, digest=manifest.digest[:20]
        )
        mlflow.log_input(dataset, context=context)
    mlflow.log_table(table, artifact_file=f"data/{context}_manifest.json")


@contextmanager
def tracked_run(
    settings: ProjectSettings,
    repo_root: Path,
    *,
    run_name: str | None = None,
    manifest: DataManifest | None = None,
    context: str = "training",
    extra_tags: Mapping[str, str] | None = None,
    parent_run_id: str | None = None,
    resume_run_id: str | None = None,
) -> Iterator[tuple[mlflow.ActiveRun, Lineage]]:
    """Start an MLflow run that carries lineage tags, the resolved config and the data.

    The run ends FAILED if the body raises, so a broken run is visible as such and
    nothing downstream (registry aliases) has been touched yet; KILLED if SIGTERM
    stopped it (``TrainingPreempted``: resumable).

    Args:
        settings: The resolved settings (logged, and hashed into the lineage).
        repo_root: The monorepo root (the embedded store, git state, uv.lock).
        run_name: The run's name (MLflow picks one when None).
        manifest: The data the run reads (logged as an input and a table).
        context: ``training``, ``evaluation``, ... (tag ``medai.run_kind``).
        extra_tags: More tags.
        parent_run_id: Open the run as a child of this one (a search's trial).
        resume_run_id: Reopen this run (status RUNNING again) instead of a new one; its
            config, params and data were logged when it started and are not again.

    Yields:
        The active run and its lineage (for copying onto a model version).
    """
    configure_tracking(settings.tracking, repo_root)
    lineage = collect_lineage(settings, repo_root, manifest)
    tags = {**lineage.tags(), f"{TAG_PREFIX}run_kind": context, **(extra_tags or {})}
    if resume_run_id is not None:
        run = mlflow.start_run(run_id=resume_run_id, tags=dict(extra_tags or {}))
    else:
        experiment = settings.experiment_name()
        artifact_root = settings.tracking.resolved_artifact_location(repo_root)
        experiment_id = ensure_experiment(
            experiment, experiment_artifact_location(artifact_root, experiment)
        )
        run = mlflow.start_run(
            experiment_id=experiment_id,
            run_name=run_name,
            tags=tags,
            parent_run_id=parent_run_id,
        )
    try:
        if resume_run_id is None:
            mlflow.log_text(settings_as_yaml(settings), "config/resolved.yaml")
            mlflow.log_params(flatten(settings_as_dict(settings)))
            if manifest is not None:
                log_manifest(manifest, context)
        yield run, lineage
    except TrainingPreempted:
        mlflow.end_run(RunStatus.to_string(RunStatus.KILLED))
        raise
    except BaseException:
        mlflow.end_run(RunStatus.to_string(RunStatus.FAILED))
        raise
    mlflow.end_run(RunStatus.to_string(RunStatus.FINISHED))


@contextmanager
def evaluation_run(
    settings: ProjectSettings,
    repo_root: Path,
    *,
    model_name: str,
    model_version: str,
    model_alias: str,
    manifest: DataManifest,
) -> Iterator[mlflow.ActiveRun]:
    """A tracked run of ``context`` evaluation, tagged with the model version it evaluates.

    Yields:
        The active run.
    """
    tags = {
        f"{TAG_PREFIX}model_name": model_name,
        f"{TAG_PREFIX}model_version": model_version,
        f"{TAG_PREFIX}model_alias": model_alias,
    }
    with tracked_run(
        settings, repo_root, context="evaluation", manifest=manifest, extra_tags=tags
    ) as (run, _):
        yield run
