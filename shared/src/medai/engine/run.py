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
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import mlflow
from torch.utils.data import DataLoader

from medai.config import ProjectSettings
from medai.data.manifest import DataManifest
from medai.engine.checkpoints import CheckpointError, checkpoint_folder, checkpoint_root, run_lock
from medai.engine.curves import plot_learning_curves
from medai.engine.devices import DevicePlan, ProcessGroup, process_group
from medai.engine.fit import fit
from medai.engine.records import EpochRecord, FitOutcome
from medai.engine.resume import ResumeTarget, resolve_resume
from medai.engine.settings import TrainingSettings
from medai.engine.task import TrainingTask
from medai.errors import ResumeError
from medai.tracking.registry import VALIDATION_METRIC_TAG, aliased_figures, new_version_comparison
from medai.tracking.runs import tracked_run
from medai.tracking.store import configure_tracking

LOGGER = logging.getLogger(__name__)

Register = Callable[[Mapping[str, str]], str]
"""Registers the trained network (on the CPU) with these version tags; returns the version."""


WORLD_SIZE_TAG = "medai.world_size"
"""Processes the run trained with (1 without torchrun)."""
RESUMED_TAG = "medai.resumed_after_epoch"
"""On a resumed run: the epoch its checkpoint had reached."""


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
        model_version: The version registered as ``challenger`` ("" when not registered).
        metric: The ranking metric's name (``best_val_dice_mean``).
        best_score: Its value.
        best_epoch: The epoch whose weights were registered.
        seconds: Wall time, data preparation included.
        comparison: How the version compares with the previous challenger and champion.
        stopped_early: The epoch observer stopped the training (not registered).
        rank: The process (torchrun's ``RANK``); only rank 0 tracks and registers.
    """

    run_id: str
    model_name: str
    model_version: str
    metric: str
    best_score: float
    best_epoch: int
    seconds: float
    comparison: tuple[str, ...] = ()
    stopped_early: bool = False
    rank: int = 0

    def summary(self) -> str:
        """The command's report line: version, ranking score, epoch, time and run.

        Empty on ranks other than 0 (rank 0 reports for all).
        """
        if self.rank != 0:
            return ""
        scored = (
            f"{self.metric} {self.best_score:.3f} (epoch {self.best_epoch}), "
            f"{self.seconds:.0f} s, run {self.run_id}"
        )
        if not self.model_version:
            stopped = "stopped early, " if self.stopped_early else ""
            return f"trained {self.model_name}, not registered: {stopped}{scored}"
        return f"registered {self.model_name} version {self.model_version} as challenger: {scored}"


def _epoch_logger(
    logged_through: int, observer: EpochObserver | None
) -> Callable[[EpochRecord], bool]:
    """Log each epoch's metrics at its step (once: a resumed run skips logged epochs)."""

    def on_epoch(record: EpochRecord) -> bool:
        if record.epoch > logged_through:
            mlflow.log_metrics(record.as_metrics(), step=record.epoch)
        return bool(observer(record)) if observer is not None else False

    return on_epoch


def check_resume(
    resume: str | None, settings: ProjectSettings, repo_root: Path, project: str
) -> ResumeTarget | None:
    """The run ``--resume`` names, checked (``resolve_resume``) before a kind reads its data.

    Raises:
        medai.errors.ResumeError: Nothing resumable, as ``resolve_resume`` says.
    """
    configure_tracking(settings.tracking, repo_root)
    return resolve_resume(resume, settings, checkpoint_root(repo_root, project), project)


def run_training(
    plan: TrainingPlan, *, started: float | None = None, options: RunOptions | None = None
) -> TrainingResult:
    """Fit, track and register, in one MLflow run (rank 0); other ranks only fit.

    Args:
        plan: The kind's part of the training.
        started: ``time.perf_counter()`` when the command began (data preparation is
            part of the reported seconds); now when None.
        options: Resume, nesting, registration and an epoch observer (``RunOptions``).

    Raises:
        medai.errors.ResumeError: ``options.resume`` names nothing resumable (before the
            run is reopened or a checkpoint written).
        medai.errors.TrainingPreempted: SIGTERM; the checkpoint is written, the run KILLED.
    """
    started = time.perf_counter() if started is None else started
    options = options or RunOptions()
    group = process_group()
    root = checkpoint_root(plan.repo_root, plan.project)
    target = _agreed_target(options.resume, plan, group)
    if not group.is_zero:
        return _fit_other_rank(plan, target, group.rank, started)
    metric = ranking_metric(plan.task.monitor)
    name = plan.settings.registered_model_name()
    tags = {
        **options.tags,
        WORLD_SIZE_TAG: str(plan.devices.world_size),
        **({RESUMED_TAG: str(target.epoch)} if target is not None else {}),
    }
    with ExitStack() as held:
        if target is not None:  # held before the run is reopened: a live trainer is refused
            _hold(held, checkpoint_folder(root, target.run_id))
        run, lineage = held.enter_context(
            tracked_run(
                plan.settings,
                plan.repo_root,
                context="training",
                manifest=plan.manifest,
                run_name=options.run_name,
                extra_tags=tags,
                parent_run_id=options.parent_run_id,
                resume_run_id=target.run_id if target is not None else None,
            )
        )
        run_id = run.info.run_id
        folder = checkpoint_folder(root, run_id)
        if target is None:
            folder.mkdir(parents=True, exist_ok=False)
            _hold(held, folder)
            mlflow.log_text(plan.split, "data/split.json")
            mlflow.log_params(
                {
                    **plan.params,
                    "engine.accelerator": plan.devices.accelerator,
                    "engine.world_size": plan.devices.world_size,
                }
            )
        else:
            LOGGER.info("resuming run %s after epoch %d", run_id, target.epoch)
        outcome = fit(
            plan.task,
            plan.train_loader,
            plan.val_loader,
            train=plan.train,
            devices=plan.devices,
            checkpoint_dir=folder,
            on_epoch=_epoch_logger(target.logged_through if target else 0, options.on_epoch),
            seed=plan.settings.seed,
            run_id=run_id,
            resume_from=target.checkpoint if target is not None else None,
        )
        _log_outcome(outcome, plan.task, metric)
        version, comparison = "", tuple[str, ...]()
        if options.register and not outcome.stopped_early:
            before = aliased_figures(name, metric)
            version = plan.register(
                {
                    **lineage.tags(),
                    "medai.run_id": run_id,
                    VALIDATION_METRIC_TAG: metric,
                    metric: f"{outcome.best_score:.4f}",
                    "best_epoch": str(outcome.best_epoch),
                }
            )
            comparison = new_version_comparison(
                project=plan.project, name=name, metric=metric, version=version, before=before
            )
    # Finished and logged: the run's checkpoints are no longer needed to resume it.
    shutil.rmtree(folder, ignore_errors=True)
    if version:
        LOGGER.info("registered %s version %s (%s %.3f)", name, version, metric, outcome.best_score)
    return TrainingResult(
        run_id=run_id,
        model_name=name,
        model_version=version,
        metric=metric,
        best_score=outcome.best_score,
        best_epoch=outcome.best_epoch,
        seconds=time.perf_counter() - started,
        comparison=comparison,
        stopped_early=outcome.stopped_early,
    )


def _hold(held: ExitStack, folder: Path) -> None:
    """Lock the run's folder until ``held`` closes (before the folder is removed)."""
    try:
        held.enter_context(run_lock(folder))
    except CheckpointError as exc:
        raise ResumeError(str(exc)) from None


def _agreed_target(
    resume: str | None, plan: TrainingPlan, group: ProcessGroup
) -> ResumeTarget | None:
    """The run to resume, resolved by rank 0 alone and sent to every rank.

    Ranks that resolved on their own would race rank 0's lock on the run folder and
    choose differently (``auto`` would start a new run on a slow rank). Under torchrun the
    process group is made here, before Lightning (which then reuses it).

    Raises:
        medai.errors.ResumeError: As ``check_resume`` (on every rank), or a checkpoint
            written by another number of processes than this training's.
    """

    def resolve() -> ResumeTarget | None:
        return check_resume(resume, plan.settings, plan.repo_root, plan.project)

    world = plan.devices.world_size
    if world == 1:
        target = resolve()
    else:
        target = _broadcast_from_zero(resolve, group, plan.devices.accelerator)
    if target is not None and target.world_size not in (0, world):
        message = (
            f"--resume: run {target.run_id} trained with {target.world_size} processes; "
            f"resume it with the same number (--nproc x --nnodes), not {world}"
        )
        raise ResumeError(message)
    return target


def _broadcast_from_zero(
    resolve: Callable[[], ResumeTarget | None], group: ProcessGroup, accelerator: str
) -> ResumeTarget | None:
    """Run ``resolve`` on rank 0 and hand its answer (or its ResumeError) to every rank."""
    import torch  # noqa: PLC0415 - only under torchrun
    import torch.distributed as dist  # noqa: PLC0415

    if not dist.is_initialized():
        backend = "nccl" if accelerator == "cuda" else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend=backend)
    # Python objects travel over gloo (every rank is a member: never the non-member value).
    objects = cast("dist.ProcessGroup", dist.new_group(backend="gloo"))
    payload: list[tuple[str, Any]] = [("", None)]
    if group.is_zero:
        try:
            payload = [("ok", resolve())]
        except ResumeError as exc:
            payload = [("error", str(exc))]
    dist.broadcast_object_list(payload, src=0, group=objects)
    status, value = payload[0]
    if status == "error":
        raise ResumeError(value)
    return cast("ResumeTarget | None", value)


def _fit_other_rank(
    plan: TrainingPlan, target: ResumeTarget | None, rank: int, started: float
) -> TrainingResult:
    """A rank other than 0: train its shard; rank 0 tracks, checkpoints and registers."""
    logging.getLogger("medai").setLevel(logging.WARNING)  # one process speaks: rank 0
    with tempfile.TemporaryDirectory(prefix="medai-rank-") as scratch:
        outcome = fit(
            plan.task,
            plan.train_loader,
            plan.val_loader,
            train=plan.train,
            devices=plan.devices,
            # Rank 0's folder is broadcast to every rank when the fit starts.
            checkpoint_dir=target.checkpoint.parent if target is not None else Path(scratch),
            seed=plan.settings.seed,
            resume_from=target.checkpoint if target is not None else None,
        )
    return TrainingResult(
        run_id=target.run_id if target is not None else "",
        model_name=plan.settings.registered_model_name(),
        model_version="",
        metric=ranking_metric(plan.task.monitor),
        best_score=outcome.best_score,
        best_epoch=outcome.best_epoch,
        seconds=time.perf_counter() - started,
        rank=rank,
    )


def _log_outcome(outcome: FitOutcome, task: TrainingTask, metric: str) -> None:
    """The best checkpoint, the ranking metric and the learning curves."""
    mlflow.log_artifact(str(outcome.checkpoint), artifact_path="checkpoints")
    mlflow.log_metrics({metric: outcome.best_score, "best_epoch": outcome.best_epoch})
    mlflow.log_figure(
        plot_learning_curves(outcome.history, task.monitor, task.monitor_label, outcome.best_epoch),
        "plots/learning_curves.png",
    )
