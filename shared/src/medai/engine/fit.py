"""``fit``: one Lightning ``Trainer`` run of a ``TrainingTask``, with the engine's callbacks.

Lightning does the loop, device placement, mixed precision, gradient scaling and the
checkpoint; the callbacks here add what every kind's training reported before: a
validation after the last epoch whatever ``val_every`` says, one ``EpochRecord`` per
epoch (train loss, learning rate, seconds, scores) handed to ``on_epoch`` (the tracked
run logs it to MLflow), and the best epoch's weights loaded back into the task.

Ctrl-C: Lightning turns it into ``sys.exit(1)`` after a graceful shutdown; ``fit``
raises ``KeyboardInterrupt`` instead, so the caller's MLflow run ends as failed and
nothing is registered.
"""

from __future__ import annotations

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
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from torch.utils.data import DataLoader

from medai.engine.devices import DevicePlan
from medai.engine.records import EpochRecord, FitOutcome, score_at
from medai.engine.settings import TrainingSettings
from medai.engine.task import TrainingTask

LOGGER = logging.getLogger(__name__)

BEST_CHECKPOINT = "best"
"""File stem of the best epoch's checkpoint in the checkpoint folder."""

_QUIET_WARNINGS = (
    # We choose num_workers (0 on small CPU machines: workers cost more than they save).
    r".*does not have many workers.*",
    # Lightning 2.6 calls a torch pytree API that torch 2.15 deprecates; not ours to fix.
    r".*isinstance\(treespec, LeafSpec\)` is deprecated.*",
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
    """One ``EpochRecord`` per epoch, collected and handed to ``on_epoch``."""

    def __init__(self, on_epoch: Callable[[EpochRecord], None] | None) -> None:
        """Remember the callback; records accumulate in ``history``."""
        self.on_epoch = on_epoch
        self.history: list[EpochRecord] = []
        self._started = 0.0
        self._lr = math.nan

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:  # noqa: ARG002
        """Note the time and the learning rate the epoch trains with."""
        self._started = time.perf_counter()
        self._lr = float(trainer.optimizers[0].param_groups[0]["lr"])

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Record the epoch (Lightning validates before this hook runs)."""
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
            LOGGER.info(
                "epoch %d: loss %.4f, %s %.4f",
                record.epoch,
                record.train_loss,
                pl_module.monitor,
                record.scores[pl_module.monitor],
            )
        if self.on_epoch is not None:
            self.on_epoch(record)


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
        precision=devices.precision,
        check_val_every_n_epoch=train.val_every,
        num_sanity_val_steps=0,
        logger=False,
        enable_model_summary=False,
        enable_progress_bar=sys.stderr.isatty(),
        default_root_dir=checkpoint_dir,
        callbacks=callbacks,
    )


def fit(
    task: TrainingTask,
    train_loader: DataLoader[Any],
    val_loader: DataLoader[Any],
    *,
    train: TrainingSettings,
    devices: DevicePlan,
    checkpoint_dir: Path,
    on_epoch: Callable[[EpochRecord], None] | None = None,
    callbacks: Sequence[Callback] = (),
) -> FitOutcome:
    """Train ``task`` and leave it holding the best epoch's weights, on the CPU.

    Args:
        task: The kind's task around the network.
        train_loader: Training batches, in the form ``task.training_loss`` takes.
        val_loader: Validation batches, in the form ``task.validation_step`` takes.
        train: Epochs and validation interval.
        devices: Where and in which precision (``plan_devices``).
        checkpoint_dir: An empty folder for the checkpoints (``best.ckpt``, ``last.ckpt``).
        on_epoch: Called after every epoch with its record.
        callbacks: More Lightning callbacks (after the engine's), e.g. a step timer.

    Raises:
        ValueError: ``checkpoint_dir`` is not empty (a stale ``best.ckpt`` would be kept).
        KeyboardInterrupt: The fit was interrupted (the checkpoints are left as they were).
    """
    if any(checkpoint_dir.iterdir()):
        message = f"{checkpoint_dir}: the checkpoint folder must be empty; it holds files"
        raise ValueError(message)
    started = time.perf_counter()
    recorder = EpochRecorder(on_epoch)
    best = ModelCheckpoint(
        dirpath=checkpoint_dir,
        filename=BEST_CHECKPOINT,
        monitor=task.monitor,
        mode="max",
        save_top_k=1,
        save_last=True,
        auto_insert_metric_name=False,
        enable_version_counter=False,
    )
    with _lightning_quiet():
        trainer = trainer_for(
            train, devices, checkpoint_dir, [FinalEpochValidation(), recorder, best, *callbacks]
        )
        task.train()  # a network left in eval mode would train with frozen norms and no dropout
        try:
            trainer.fit(task, train_dataloaders=train_loader, val_dataloaders=val_loader)
        except SystemExit:
            if not trainer.interrupted:
                raise
            signal.signal(signal.SIGINT, signal.default_int_handler)
            raise KeyboardInterrupt from None
    checkpoint = Path(best.best_model_path)
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    task.load_state_dict(state["state_dict"])
    task.cpu()
    task.eval()
    best_epoch = int(state["epoch"]) + 1
    return FitOutcome(
        monitor=task.monitor,
        best_epoch=best_epoch,
        best_score=score_at(recorder.history, task.monitor, best_epoch),
        history=tuple(recorder.history),
        checkpoint=checkpoint,
        seconds=time.perf_counter() - started,
    )
