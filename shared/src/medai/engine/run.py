"""``run_training``: one tracked training, the same for every kind.

The kind reads and checks its data, builds its network, task and loaders, and says how
the trained network is registered; this module does the rest in one MLflow run: the
split and data sizes, one metric row per epoch, the best checkpoint, the learning
curves, the ranking metric, the registration (as ``challenger``, only after every step
before it succeeded) and the comparison with the versions it competes with. A failure
anywhere ends the run as FAILED and leaves the registry as it was.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
from torch.utils.data import DataLoader

from medai.config import ProjectSettings
from medai.data.manifest import DataManifest
from medai.engine.curves import plot_learning_curves
from medai.engine.devices import DevicePlan
from medai.engine.fit import fit
from medai.engine.records import EpochRecord, FitOutcome
from medai.engine.settings import TrainingSettings
from medai.engine.task import TrainingTask
from medai.tracking.registry import VALIDATION_METRIC_TAG, aliased_figures, new_version_comparison
from medai.tracking.runs import tracked_run

LOGGER = logging.getLogger(__name__)

Register = Callable[[Mapping[str, str]], str]
"""Registers the trained network (on the CPU) with these version tags; returns the version."""


def ranking_metric(monitor: str) -> str:
    """The run metric that ranks trainings: the best epoch's ``monitor`` (``best_<monitor>``)."""
    return f"best_{monitor}"


@dataclass(frozen=True)
class TrainingPlan:
    """What a kind hands the engine for one tracked training.

    Attributes:
        project: The project's name (registry messages).
        settings: The resolved settings (logged with the run).
        train: Their ``train`` section.
        devices: Where and in which precision (``plan_devices``, checked already).
        repo_root: The monorepo root (the embedded MLflow store).
        manifest: The data the run trains and validates on (hashes, no file names).
        split: The split as JSON (case ids), logged as ``data/split.json``.
        params: Data sizes and names, logged as run parameters.
        task: The task around the network.
        train_loader: Training batches.
        val_loader: Validation batches.
        register: Registers the trained network (the kind's ONNX export and checks).
    """

    project: str
    settings: ProjectSettings
    train: TrainingSettings
    devices: DevicePlan
    repo_root: Path
    manifest: DataManifest
    split: str
    params: Mapping[str, Any]
    task: TrainingTask
    train_loader: DataLoader[Any]
    val_loader: DataLoader[Any]
    register: Register


EpochObserver = Callable[[EpochRecord], bool]
"""Sees each epoch's record after the engine logged it; True stops the training there.

A hyper-parameter search reports the epoch's score to its pruner with one (``medai.tuning``):
a pruned trial stops early, its run ends FINISHED with what it had logged, unregistered."""


@dataclass(frozen=True)
class RunOptions:
    """How one training is run, beyond its config: resumed, nested, registered or not.

    Attributes:
        resume: None: a new MLflow run. A run id: continue that run from its last
            checkpoint. ``latest``: the project's latest unfinished run (an error when
            there is none). ``auto``: the latest unfinished run if there is one, else a
            new run (a Kubernetes pod that may be a retry).
        parent_run_id: Open the run as a child of this run (a search's trial).
        register: Register the trained network as challenger at the end.
        on_epoch: Called (in the process that tracks, rank 0) after every epoch.
        run_name: The MLflow run's name (MLflow picks one when None).
        tags: More tags on the run.
    """

    resume: str | None = None
    parent_run_id: str | None = None
    register: bool = True
    on_epoch: EpochObserver | None = None
    run_name: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TrainingResult:
    """What a finished training produced.

    Attributes:
        run_id: The MLflow run.
        model_name: The registered model.
        model_version: The version registered as ``challenger``.
        metric: The ranking metric's name (``best_val_dice_mean``).
        best_score: Its value.
        best_epoch: The epoch whose weights were registered.
        seconds: Wall time, data preparation included.
        comparison: How the version compares with the previous challenger and champion.
    """

    run_id: str
    model_name: str
    model_version: str
    metric: str
    best_score: float
    best_epoch: int
    seconds: float
    comparison: tuple[str, ...] = ()

    def summary(self) -> str:
        """The command's report line: version, ranking score, epoch, time and run."""
        return (
            f"registered {self.model_name} version {self.model_version} as challenger: "
            f"{self.metric} {self.best_score:.3f} (epoch {self.best_epoch}), "
            f"{self.seconds:.0f} s, run {self.run_id}"
        )


def _log_epoch(record: EpochRecord) -> None:
    mlflow.log_metrics(record.as_metrics(), step=record.epoch)


def run_training(
    plan: TrainingPlan, *, started: float | None = None, options: RunOptions | None = None
) -> TrainingResult:
    """Fit, track and register, in one MLflow run.

    Args:
        plan: The kind's part of the training.
        started: ``time.perf_counter()`` when the command began (data preparation is
            part of the reported seconds); now when None.
        options: Resume, nesting, registration and an epoch observer (``RunOptions``).
    """
    options = options or RunOptions()
    started = time.perf_counter() if started is None else started
    metric = ranking_metric(plan.task.monitor)
    name = plan.settings.registered_model_name()
    with (
        tracked_run(plan.settings, plan.repo_root, context="training", manifest=plan.manifest) as (
            run,
            lineage,
        ),
        tempfile.TemporaryDirectory(prefix="medai-checkpoints-") as scratch,
    ):
        mlflow.log_text(plan.split, "data/split.json")
        mlflow.log_params({**plan.params, "engine.accelerator": plan.devices.accelerator})
        outcome = fit(
            plan.task,
            plan.train_loader,
            plan.val_loader,
            train=plan.train,
            devices=plan.devices,
            checkpoint_dir=Path(scratch),
            on_epoch=_log_epoch,
        )
        _log_outcome(outcome, plan.task, metric)
        before = aliased_figures(name, metric)
        version = plan.register(
            {
                **lineage.tags(),
                "medai.run_id": run.info.run_id,
                VALIDATION_METRIC_TAG: metric,
                metric: f"{outcome.best_score:.4f}",
                "best_epoch": str(outcome.best_epoch),
            }
        )
        comparison = new_version_comparison(
            project=plan.project, name=name, metric=metric, version=version, before=before
        )
    LOGGER.info("registered %s version %s (%s %.3f)", name, version, metric, outcome.best_score)
    return TrainingResult(
        run_id=run.info.run_id,
        model_name=name,
        model_version=version,
        metric=metric,
        best_score=outcome.best_score,
        best_epoch=outcome.best_epoch,
        seconds=time.perf_counter() - started,
        comparison=comparison,
    )


def _log_outcome(outcome: FitOutcome, task: TrainingTask, metric: str) -> None:
    """The best checkpoint, the ranking metric and the learning curves."""
    mlflow.log_artifact(str(outcome.checkpoint), artifact_path="checkpoints")
    mlflow.log_metrics({metric: outcome.best_score, "best_epoch": outcome.best_epoch})
    mlflow.log_figure(
        plot_learning_curves(outcome.history, task.monitor, task.monitor_label, outcome.best_epoch),
        "plots/learning_curves.png",
    )
