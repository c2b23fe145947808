"""What a fit reports: one record per epoch and the outcome (plain data, no torch)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class EpochRecord:
    """What one epoch measured.

    Attributes:
        epoch: 1-based epoch number.
        train_loss: Mean training loss over the epoch's steps.
        lr: Learning rate used during the epoch.
        seconds: Wall time of the epoch, validation included.
        scores: The task's validation scores, empty when the epoch did not validate.
    """

    epoch: int
    train_loss: float
    lr: float
    seconds: float
    scores: dict[str, float] = field(default_factory=dict)

    @property
    def validated(self) -> bool:
        """Whether the epoch ran validation."""
        return bool(self.scores)

    def as_metrics(self) -> dict[str, float]:
        """Flat names for ``mlflow.log_metrics(..., step=epoch)``."""
        return {
            "train_loss": self.train_loss,
            "lr": self.lr,
            "epoch_seconds": self.seconds,
            **self.scores,
        }


@dataclass(frozen=True)
class FitOutcome:
    """The result of ``fit``; the task already holds the best checkpoint's weights.

    Attributes:
        monitor: The score that ranked the epochs (e.g. ``val_dice_mean``).
        best_epoch: The epoch whose weights were kept.
        best_score: Its ``monitor`` score (NaN when it could not be computed).
        history: Every epoch's record, in order.
        checkpoint: The best epoch's weights (``best.ckpt``: ``state_dict``, ``epoch``).
        seconds: Wall time of the whole fit (this process's part of it when resumed).
        stopped_early: ``on_epoch`` stopped the fit before its last epoch.
    """

    monitor: str
    best_epoch: int
    best_score: float
    history: tuple[EpochRecord, ...]
    checkpoint: Path
    seconds: float
    stopped_early: bool = False


def score_at(history: Sequence[EpochRecord], monitor: str, epoch: int) -> float:
    """The ``monitor`` score of ``epoch`` in ``history``; NaN if it did not validate."""
    for record in history:
        if record.epoch == epoch:
            return record.scores.get(monitor, math.nan)
    return math.nan
