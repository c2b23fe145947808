"""``TrainingTask``: the LightningModule contract a kind implements, and nothing more.

A kind says how a batch becomes a loss (``training_loss``), how a validation batch is
accumulated (``validation_step``) and what the accumulated batches score
(``validation_scores``, which must contain ``monitor``). The engine owns the rest:
the optimiser and its schedule (AdamW, cosine-annealed over the epochs, as every kind
trained before), the epoch's mean loss without a host sync per step, and handing the
scores to Lightning so its checkpointing ranks the epochs by ``monitor``.

Under multi-process training (DDP) each process sees its shard of the validation data
(Lightning's ``DistributedSampler``, which pads the shards to one length by repeating
the first cases); a kind's ``validation_scores`` puts its per-case values through
``gather_cases``, which returns every case once, in dataset order, on every process, so
all processes score the same full validation set (a no-op in one process).
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


def validation_size(trainer: pl.Trainer) -> int:
    """How many cases the validation set holds (its dataset's length)."""
    loaders = trainer.val_dataloaders
    loader = loaders[0] if isinstance(loaders, list) else loaders
    if loader is None:  # pragma: no cover - called from validation hooks only
        message = "no validation loader is attached to the trainer"
        raise RuntimeError(message)
    return len(loader.dataset)


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

    def gather_cases(self, values: torch.Tensor) -> torch.Tensor:
        """Per-case values of this process's validation shard -> every case's, in order.

        Args:
            values: ``(k, ...)``, one row per validation case this process saw, in the
                order it saw them (every process sees the same number, ``k``).

        Returns:
            ``(n, ...)`` on the CPU: the rows of all ``n`` validation cases, in the
            validation set's order, without the padding cases the sampler repeated.
        """
        world = self.trainer.world_size if self._trainer is not None else 1
        if world == 1:
            return values.cpu()
        gathered = self.all_gather(values.to(self.device))  # (world, k, ...)
        if not isinstance(gathered, torch.Tensor):  # pragma: no cover - a tensor in, one out
            message = f"all_gather of a tensor returned {type(gathered).__name__}"
            raise TypeError(message)
        # Rank r's i-th case is case i * world + r of the padded order.
        ordered = gathered.transpose(0, 1).reshape(-1, *values.shape[1:])
        total = validation_size(self.trainer)
        return ordered[:total].cpu()

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
        # Every process scored the same gathered cases; sync_dist keeps Lightning's
        # checkpoint ranking and its epoch-level checks on one agreed value.
        self.log_dict(scores, prog_bar=True, logger=False, sync_dist=self.trainer.world_size > 1)

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
