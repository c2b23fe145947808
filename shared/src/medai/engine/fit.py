"""``fit``: one Lightning ``Trainer`` run of a ``TrainingTask``, with the engine's callbacks.

Lightning does the loop, device placement, mixed precision, gradient scaling and the
checkpoint; the callbacks here add what every kind's training reported before: a
validation after the last epoch whatever ``val_every`` says, one ``EpochRecord`` per
epoch (train loss, learning rate, seconds, scores) handed to ``on_epoch`` (the tracked
run logs it to MLflow), and the best epoch's weights loaded back into the task.

Ctrl-C: Lightning turns it into ``sys.exit(1)`` after a graceful shutdown; ``fit``
raises ``KeyboardInterrupt`` instead, so the caller's MLflow run ends as failed and
nothing is registered. SIGTERM (a Kubernetes eviction): Lightning stops after the
current batch, the engine writes the resumable checkpoint (``medai.engine.checkpoints``)
and ``fit`` raises ``TrainingPreempted``.

Several processes (torchrun, ``DevicePlan.world_size`` > 1): Lightning's DDP strategy,
each process on its shard of the training data (Lightning's ``DistributedSampler``);
the validation scores are gathered (``TrainingTask.gather_cases``), so every process
ranks epochs by the same numbers; only rank 0 writes checkpoints.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import signal
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.strategies import DDPStrategy
from lightning.pytorch.utilities.exceptions import SIGTERMException
from torch.utils.data import DataLoader

from medai.engine.checkpoints import BEST_FILE, LOCK_FILE, ResumeCheckpoint, atomic_save
from medai.engine.devices import DevicePlan, process_group
from medai.engine.records import EpochRecord, FitOutcome, score_at
from medai.engine.sampling import with_epoch_shuffle
from medai.engine.settings import TrainingSettings
from medai.engine.task import TrainingTask
from medai.errors import TrainingPreempted

LOGGER = logging.getLogger(__name__)


_QUIET_WARNINGS = (
    # We choose num_workers (0 on small CPU machines: workers cost more than they save).
    r".*does not have many workers.*",
    # Lightning 2.6 calls a torch pytree API that torch 2.15 deprecates; not ours to fix.
    r".*isinstance\(treespec, LeafSpec\)` is deprecated.*",
    # Lightning 2.6's all_gather (DDP validation) calls a torch API torch 2.15 deprecates.
    r".*torch.distributed.nn.functional.all_gather is deprecated.*",
    # A SIGTERM checkpoint resumes mid-epoch: ResumeCheckpoint has the sampler skip the
    # batches it trained, which Lightning cannot see.
    r".*resuming from a checkpoint that ended before the epoch ended.*",
)


class _DropTips(logging.Filter):
    """Drops Lightning's advertising lines (``Tip: ... litlogger``) from the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep every line but the tips."""
        return "Tip:" not in record.getMessage()


class FinalEpochValidation(Callback):
    """Validate after the last epoch too, as every kind did (``val_every`` may skip it)."""

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:  # noqa: ARG002
        """In the last epoch, let Lightning's epoch check pass."""
        if trainer.max_epochs is not None and trainer.current_epoch == trainer.max_epochs - 1:
            trainer.check_val_every_n_epoch = 1


class EpochRecorder(Callback):
    """One ``EpochRecord`` per epoch, handed to ``on_epoch``; the best epoch's weights kept.

    Its state (the history, the best epoch, score and weights) is saved in the resumable
    checkpoint, so a resumed fit reports and registers as if it had never stopped.
    ``on_epoch`` is called for the epochs this process trains, never for restored ones;
    it returns True to stop the fit after that epoch (a pruned search trial).
    """

    def __init__(self, on_epoch: Callable[[EpochRecord], bool | None] | None) -> None:
        """Remember the callback; records accumulate in ``history``."""
        self.on_epoch = on_epoch
        self.history: list[EpochRecord] = []
        self.best_epoch = 0
        self.best_score = -math.inf
        self.best_state: dict[str, torch.Tensor] | None = None
        self.stopped_early = False
        self._started = 0.0
        self._lr = math.nan

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:  # noqa: ARG002
        """Note the time and the learning rate the epoch trains with."""
        self._started = time.perf_counter()
        self._lr = float(trainer.optimizers[0].param_groups[0]["lr"])

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Record the epoch (Lightning validates before this hook runs); keep a new best."""
        if not isinstance(pl_module, TrainingTask):  # pragma: no cover - fit passes a task
            return
        record = EpochRecord(
            epoch=trainer.current_epoch + 1,
            train_loss=pl_module.take_epoch_loss(),
            lr=self._lr,
            seconds=time.perf_counter() - self._started,
            scores=pl_module.take_scores(),
        )
        self.history.append(record)
        if record.validated:
            self._keep_if_best(record, pl_module)
            LOGGER.info(
                "epoch %d: loss %.4f, %s %.4f",
                record.epoch,
                record.train_loss,
                pl_module.monitor,
                record.scores[pl_module.monitor],
            )
        stop = self.on_epoch(record) if self.on_epoch is not None else None
        stop = bool(trainer.strategy.broadcast(bool(stop)))
        if stop:
            self.stopped_early = True
            trainer.should_stop = True

    def _keep_if_best(self, record: EpochRecord, task: TrainingTask) -> None:
        """Strictly better than the best so far (a NaN score ranks below any number)."""
        score = record.scores[task.monitor]
        ranked = -math.inf if math.isnan(score) else score
        if self.best_state is None or ranked > self.best_score:
            self.best_epoch, self.best_score = record.epoch, ranked
            self.best_state = {k: v.detach().cpu().clone() for k, v in task.state_dict().items()}

    def state_dict(self) -> dict[str, Any]:
        """History and best weights, for the resumable checkpoint."""
        return {
            "history": [dataclasses.asdict(r) for r in self.history],
            "best_epoch": self.best_epoch,
            "best_score": self.best_score,
            "best_state": self.best_state,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Continue from a checkpoint's history and best weights."""
        self.history = [EpochRecord(**r) for r in state_dict["history"]]
        self.best_epoch = int(state_dict["best_epoch"])
        self.best_score = float(state_dict["best_score"])
        self.best_state = state_dict["best_state"]


@contextmanager
def _lightning_quiet() -> Iterator[None]:
    """Silence the warnings and tips that are noise for our runs, for the block only."""
    rank_zero = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    tips = _DropTips()
    rank_zero.addFilter(tips)
    # The `lightning` package logs through a handler of its own and to the root logger;
    # where the command configured the root (medai.logs), keep only that one copy.
    package_logger = logging.getLogger("lightning")
    own_handlers = list(package_logger.handlers) if logging.getLogger().handlers else []
    for handler in own_handlers:
        package_logger.removeHandler(handler)
    try:
        with warnings.catch_warnings():
            for message in _QUIET_WARNINGS:
                warnings.filterwarnings("ignore", message=message)
            yield
    finally:
        rank_zero.removeFilter(tips)
        for handler in own_handlers:
            package_logger.addHandler(handler)


def trainer_for(
    train: TrainingSettings,
    devices: DevicePlan,
    checkpoint_dir: Path,
    callbacks: list[Callback],
) -> pl.Trainer:
    """The Lightning ``Trainer`` every kind trains with (no logger: the run layer logs)."""
    return pl.Trainer(
        max_epochs=train.epochs,
        accelerator=devices.accelerator,
        devices=devices.devices,
        num_nodes=devices.num_nodes,
        strategy=strategy_for(devices),
        precision=devices.precision,
        check_val_every_n_epoch=train.val_every,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=True,  # the engine's ResumeCheckpoint (no ModelCheckpoint is added)
        enable_model_summary=False,
        enable_progress_bar=sys.stderr.isatty(),
        default_root_dir=checkpoint_dir,
        callbacks=callbacks,
    )


def strategy_for(devices: DevicePlan) -> str | DDPStrategy:
    """One process: Lightning's default. Several (torchrun): DDP, gloo on CPU, NCCL on CUDA."""
    if devices.world_size == 1:
        return "auto"
    backend = "nccl" if devices.accelerator == "cuda" else "gloo"
    return DDPStrategy(process_group_backend=backend)


def fit(
    task: TrainingTask,
    train_loader: DataLoader[Any],
    val_loader: DataLoader[Any],
    *,
    train: TrainingSettings,
    devices: DevicePlan,
    checkpoint_dir: Path,
    on_epoch: Callable[[EpochRecord], bool | None] | None = None,
    callbacks: Sequence[Callback] = (),
    seed: int = 0,
    run_id: str = "",
    resume_from: Path | None = None,
) -> FitOutcome:
    """Train ``task`` and leave it holding the best epoch's weights, on the CPU.

    Args:
        task: The kind's task around the network.
        train_loader: Training batches, in the form ``task.training_loss`` takes.
        val_loader: Validation batches, in the form ``task.validation_step`` takes.
        train: Epochs, validation and checkpoint intervals.
        devices: Where and in which precision (``plan_devices``).
        checkpoint_dir: The run's checkpoint folder: empty for a new fit, the folder
            holding ``resume_from`` for a resumed one. ``resume.ckpt`` is written there
            every ``train.checkpoint_every`` epochs and on SIGTERM, ``best.ckpt`` at the end.
        on_epoch: Called after every epoch this process trains; True stops the fit.
        callbacks: More Lightning callbacks (after the engine's), e.g. a step timer.
        seed: Seeds each epoch's shuffle and randomness (``sampling.EpochShuffle``); the
            loader's own sampler is replaced (it must be a map-style dataset's loader).
        run_id: The MLflow run, stored in the resumable checkpoint.
        resume_from: Continue from this resumable checkpoint (checked by the caller).

    Raises:
        ValueError: A new fit's ``checkpoint_dir`` is not empty (stale files would be kept).
        KeyboardInterrupt: The fit was interrupted (the checkpoints are left as they were).
        TrainingPreempted: SIGTERM: the checkpoint was written, the process should exit.
    """
    if resume_from is None and any(p.name != LOCK_FILE for p in checkpoint_dir.iterdir()):
        message = f"{checkpoint_dir}: the checkpoint folder must be empty; it holds files"
        raise ValueError(message)
    started = time.perf_counter()
    recorder = EpochRecorder(on_epoch)
    resumable = ResumeCheckpoint(checkpoint_dir, every=train.checkpoint_every, run_id=run_id)
    engine_callbacks: list[Callback] = [FinalEpochValidation(), recorder]
    # Each epoch's shuffle and randomness from (seed, epoch, rank), this rank's shard.
    train_loader = with_epoch_shuffle(
        train_loader,
        seed=seed,
        num_replicas=devices.world_size,
        rank=process_group().rank if devices.world_size > 1 else 0,
    )
    with _lightning_quiet():
        trainer = trainer_for(
            train, devices, checkpoint_dir, [*engine_callbacks, resumable, *callbacks]
        )
        task.train()  # a network left in eval mode would train with frozen norms and no dropout
        try:
            trainer.fit(
                task,
                train_dataloaders=train_loader,
                val_dataloaders=val_loader,
                ckpt_path=resume_from,
                weights_only=True,
            )
        except SIGTERMException:
            raise TrainingPreempted(resumable.run_id, trainer.current_epoch + 1) from None
        except SystemExit:
            if not trainer.interrupted:
                raise
            signal.signal(signal.SIGINT, signal.default_int_handler)
            raise KeyboardInterrupt from None
    if recorder.best_state is not None:
        task.load_state_dict(recorder.best_state)
    task.cpu()
    task.eval()
    best = resumable.folder / BEST_FILE
    if trainer.is_global_zero:
        atomic_save(
            {
                "state_dict": task.state_dict(),
                "epoch": recorder.best_epoch - 1,
                "monitor": task.monitor,
                "score": recorder.best_score,
            },
            best,
        )
    return FitOutcome(
        monitor=task.monitor,
        best_epoch=recorder.best_epoch,
        best_score=score_at(recorder.history, task.monitor, recorder.best_epoch),
        history=tuple(recorder.history),
        checkpoint=best,
        seconds=time.perf_counter() - started,
        stopped_early=recorder.stopped_early,
    )
