"""The search in MLflow: one parent run per study, each trial a child run under it.

The parent run carries the study's name, its storage (without password) and the project
as tags, the resolved config (the space included) as params, and at the end the best
trial's overrides (``tune/best.yaml``) and value. The trials' runs are the engine's own
training runs, opened as children of it. A trial whose worker died leaves its run
RUNNING; the worker that fails the trial ends that run FAILED, so MLflow shows what the
study says.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import mlflow
import yaml
from mlflow.tracking import MlflowClient

from medai.config import ProjectSettings
from medai.tracking.runs import tracked_run
from medai.tuning.best import BestTrial
from medai.tuning.names import BEST_TRIAL_TAG, STATE_TAG, STORAGE_TAG, STUDY_TAG, TRIAL_TAG

TRIALS_PARAM = "tune.trials"


@contextmanager
def parent_run(
    settings: ProjectSettings,
    repo_root: Path,
    *,
    study: str,
    storage: str,
    trials: int,
) -> Iterator[str]:
    """The study's parent run, open for the whole search (FAILED if the body raises).

    Yields:
        Its run id.
    """
    tags = {STUDY_TAG: study, STORAGE_TAG: storage}
    with tracked_run(
        settings, repo_root, run_name=f"tune-{study}", context="tuning", extra_tags=tags
    ) as (run, _):
        mlflow.log_params({TRIALS_PARAM: trials})
        mlflow.log_text(
            yaml.safe_dump(dict(settings.tune.space), sort_keys=False), "tune/space.yaml"
        )
        yield str(run.info.run_id)


def log_best(best: BestTrial, counts: Mapping[str, int]) -> None:
    """The best trial and the trials' states, on the active parent run."""
    mlflow.log_text(best.text(), "tune/best.yaml")
    mlflow.set_tag(BEST_TRIAL_TAG, str(best.trial))
    metrics = {f"trials_{state}": float(count) for state, count in counts.items()}
    mlflow.log_metrics({"best_value": best.value, **metrics})


def delete_run(settings: ProjectSettings, repo_root: Path, run_id: str) -> None:
    """Delete a parent run that turned out to have no study (another process created it)."""
    uri = settings.tracking.resolved_uri(repo_root)
    MlflowClient(tracking_uri=uri, registry_uri=uri).delete_run(run_id)


def end_stale_child(
    settings: ProjectSettings, repo_root: Path, *, study: str, trial_number: int
) -> list[str]:
    """End the RUNNING child run(s) of a trial whose worker died as FAILED; their ids.

    ``study`` is a checked study name (letters, digits, ``._-``), safe in the filter.
    """
    uri = settings.tracking.resolved_uri(repo_root)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment = client.get_experiment_by_name(settings.experiment_name())
    if experiment is None:
        return []
    runs = client.search_runs(
        [experiment.experiment_id],
        filter_string=(
            f"tags.`{STUDY_TAG}` = '{study}' AND tags.`{TRIAL_TAG}` = '{trial_number}' "
            "AND attributes.status = 'RUNNING'"
        ),
    )
    for run in runs:
        client.set_tag(run.info.run_id, STATE_TAG, "failed")
        client.set_terminated(run.info.run_id, status="FAILED")
    return [run.info.run_id for run in runs]
