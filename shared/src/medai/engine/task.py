"""``TrainingTask``: the LightningModule contract a kind implements, and nothing more.

A kind says how a batch becomes a loss (``training_loss``), how a validation batch is
accumulated (``validation_step``) and what the accumulated batches score
(``validation_scores``, which must contain ``monitor``). The engine owns the rest:
the optimiser and its schedule (AdamW, cosine-annealed over the epochs, as every kind
trained before), the epoch's mean loss without a host sync per step, and handing the
scores to Lightning so its checkpointing ranks the epochs by ``monitor``.

Under multi-process training each process sees its shard of the validation data; a
kind's ``validation_scores`` then gathers its accumulators with ``self.all_gather``
before scoring (a no-op in one process).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import lightning.pytorch as pl
import torch
from lightning.pytorch.utilities.types import OptimizerLRSchedulerConfig
from torch import nn


@dataclass(frozen=True)
class OptimiserSettings:
    """AdamW's learning rate and weight decay, annealed to 0 over ``epochs``."""

    learning_rate: float
    weight_decay: float
    epochs: int


class TrainingTask(pl.LightningModule, ABC):
    """A network, its loss and its validation scores, as the engine trains them.

    Attributes:
        network: The module being trained (the kind exports it after the fit).
        monitor: The validation score that ranks epochs (higher is better).
        monitor_label: How figures and logs name it (``validation mean Dice``).
    """

    monitor: ClassVar[str]
    monitor_label: ClassVar[str]

    def __init__(self, network: nn.Module, optimiser: OptimiserSettings) -> None:
        """Hold the network and the optimiser settings; nothing is placed on a device yet."""
        super().__init__()
        self.network = network
        self.optimiser_settings = optimiser
        self._loss_sum: torch.Tensor | None = None
        self._loss_steps = 0
        self._scores: dict[str, float] | None = None

    @abstractmethod
    def training_loss(self, batch: Any) -> torch.Tensor:  # noqa: ANN401 - a kind's batch type
        """The loss of one training batch (already on the task's device)."""

    @abstractmethod
    def validation_step(self, batch: Any, batch_idx: int) -> None:  # noqa: ANN401
        """Accumulate one validation batch (Lightning runs it in eval and inference mode)."""

    @abstractmethod
    def validation_scores(self) -> dict[str, float]:
        """Score the accumulated validation batches and reset the accumulators.

        Returns:
            Named scores (logged per epoch as they are named), ``monitor`` among them.
        """

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """The network's output for ``image``."""
        output: torch.Tensor = self.network(image)
        return output

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:  # noqa: ANN401, ARG002
        """The batch's loss for Lightning's backward and optimiser step."""
        loss = self.training_loss(batch)
        detached = loss.detach()
        self._loss_sum = detached if self._loss_sum is None else self._loss_sum + detached
        self._loss_steps += 1
        return loss

    def on_validation_epoch_end(self) -> None:
        """Score the epoch and hand the scores to Lightning (checkpointing, progress bar)."""
        scores = self.validation_scores()
        if self.monitor not in scores:
            message = (
                f"{type(self).__name__}.validation_scores() returned {sorted(scores)}; "
                f"expected the monitored score {self.monitor!r} among them"
            )
            raise KeyError(message)
        self._scores = scores
        self.log_dict(scores, prog_bar=True, logger=False)

    def take_epoch_loss(self) -> float:
        """The mean training loss since the last call (one host sync), then reset."""
        steps, total = self._loss_steps, self._loss_sum
        self._loss_sum, self._loss_steps = None, 0
        if total is None or steps == 0:
            return math.nan
        mean = self.trainer.strategy.reduce(total / steps, reduce_op="mean")
        return float(mean)

    def take_scores(self) -> dict[str, float]:
        """The last validation's scores if not taken yet (empty otherwise)."""
        scores, self._scores = self._scores, None
        return scores or {}

    def configure_optimizers(self) -> OptimizerLRSchedulerConfig:
        """AdamW with a cosine schedule stepped once per epoch."""
        settings = self.optimiser_settings
        optimiser = torch.optim.AdamW(
            self.network.parameters(),
            lr=settings.learning_rate,
            weight_decay=settings.weight_decay,
        )
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=settings.epochs)
        return {
            "optimizer": optimiser,
            "lr_scheduler": {"scheduler": schedule, "interval": "epoch"},
        }
