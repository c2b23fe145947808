"""The segmentation training loop and the thin layer that tracks and registers its result.

``SegmentationTrainer`` is the loop alone (benchmarked against a bare PyTorch loop);
``train`` wires the project's data, MLflow and the registry around it.
"""

from __future__ import annotations

import logging
import math
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from monai.data import CacheDataset, DataLoader, Dataset, MetaTensor, decollate_batch
from monai.losses import DiceCELoss
from monai.metrics import DiceMetric
from monai.transforms import AsDiscrete
from tqdm.auto import tqdm

from medai.errors import find_cause
from medai.io import MedicalImageError
from medai.segmentation.data import SegmentationData
from medai.segmentation.networks import SegmentationNetwork, build_network
from medai.segmentation.project import SegmentationProject, SettingsT
from medai.segmentation.segmenter import Segmenter
from medai.segmentation.settings import SegmentationSettings
from medai.segmentation.transforms import (
    IMAGE,
    LABEL,
    training_transforms,
    validation_transforms,
)

LOGGER = logging.getLogger(__name__)

VALIDATION_METRIC = "best_val_dice_mean"
"""The run metric that ranks a training: the best epoch's mean foreground Dice."""


@dataclass
class History:
    """Per-epoch figures, for the learning-curve plot."""

    train_loss: list[tuple[int, float]] = field(default_factory=list)
    val_dice: list[tuple[int, float]] = field(default_factory=list)


@dataclass(frozen=True)
class TrainingResult:
    """What a finished training produced."""

    run_id: str
    model_name: str
    model_version: str
    best_val_dice: float
    best_epoch: int
    seconds: float
    comparison: tuple[str, ...] = ()
    """How the version compares with the previous challenger and the champion."""


def plain_tensor(tensor: torch.Tensor, device: str) -> torch.Tensor:
    """Drop MONAI's metadata before the network: MetaTensor dispatch adds work to every op."""
    if isinstance(tensor, MetaTensor):
        tensor = tensor.as_tensor()
    return tensor.to(device)


class SegmentationTrainer:
    """Optimises a network with Dice + cross-entropy; validates by sliding window."""

    def __init__(
        self, network: SegmentationNetwork, settings: SegmentationSettings, device: str = "cpu"
    ) -> None:
        """Set up loss, optimiser and cosine schedule from the settings."""
        self.network = network.to(device)
        self.settings = settings
        self.device = device
        self.loss = DiceCELoss(to_onehot_y=True, softmax=True)
        self.optimizer = torch.optim.AdamW(
            network.parameters(),
            lr=settings.train.learning_rate,
            weight_decay=settings.train.weight_decay,
        )
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
            self.optimizer, T_max=settings.train.epochs
        )
        self.segmenter = Segmenter(
            network, settings.preprocessing, settings.inference, device, limits=settings.limits
        )

    def train_step(self, image: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        """One optimisation step; returns the detached loss (no host sync here)."""
        self.optimizer.zero_grad(set_to_none=True)
        loss: torch.Tensor = self.loss(self.network(image), label)
        loss.backward()  # type: ignore[no-untyped-call]
        self.optimizer.step()
        return loss.detach()

    def train_epoch(
        self, batches: Iterable[Mapping[str, Any]], progress: tqdm[Any] | None = None
    ) -> float:
        """One pass over ``batches``; returns the mean loss and steps the LR schedule."""
        self.network.train()
        total = torch.zeros((), device=self.device)
        steps = 0
        for batch in batches:
            total += self.train_step(
                plain_tensor(batch[IMAGE], self.device), plain_tensor(batch[LABEL], self.device)
            )
            steps += 1
            if progress is not None:
                progress.update(1)
        self.scheduler.step()
        return float(total) / max(steps, 1)

    def validate(self, batches: Iterable[Mapping[str, Any]]) -> list[float]:
        """Mean Dice per foreground class over whole volumes (in the training geometry)."""
        self.network.eval()
        metric = DiceMetric(include_background=False, reduction="mean_batch", ignore_empty=False)
        num_classes = self.network.num_classes
        to_pred = AsDiscrete(argmax=True, to_onehot=num_classes)
        to_true = AsDiscrete(to_onehot=num_classes)
        for batch in batches:
            logits = self.segmenter.logits(batch[IMAGE])
            preds = [torch.as_tensor(to_pred(x)) for x in decollate_batch(logits)]
            truths = [torch.as_tensor(to_true(y)) for y in decollate_batch(batch[LABEL])]
            metric(y_pred=preds, y=truths)
        per_class = metric.aggregate()
        metric.reset()  # type: ignore[no-untyped-call]
        return [float(v) for v in torch.as_tensor(per_class).flatten()]


def _build_loaders(
    settings: SegmentationSettings, data: SegmentationData
) -> tuple[DataLoader, DataLoader]:
    labels = list(data.labels)
    train_items = [{IMAGE: str(c.image), LABEL: str(c.label)} for c in data.training_cases()]
    val_items = [{IMAGE: str(c.image), LABEL: str(c.label)} for c in data.validation_cases()]
    train_ds = CacheDataset(
        train_items,
        training_transforms(settings.preprocessing, settings.train, labels, settings.limits),
        cache_rate=settings.train.cache_rate,
        num_workers=None,
        progress=False,
    )
    val_ds = Dataset(
        val_items, validation_transforms(settings.preprocessing, labels, settings.limits)
    )
    val_cached = CacheDataset(val_ds.data, val_ds.transform, cache_rate=1.0, progress=False)
    train_loader = DataLoader(
        train_ds,
        batch_size=settings.train.batch_size,
        shuffle=True,
        num_workers=settings.train.num_workers,
    )
    return train_loader, DataLoader(val_cached, batch_size=1, num_workers=0)


def data_loaders(
    settings: SegmentationSettings, data: SegmentationData
) -> tuple[DataLoader, DataLoader]:
    """Training and validation loaders over cached, preprocessed volumes.

    A broken case raises its own error (naming the file), not MONAI's wrapper.
    """
    try:
        return _build_loaders(settings, data)
    except RuntimeError as exc:
        cause = find_cause(exc, (MedicalImageError,))
        if cause is None:
            raise
        raise cause from None


def train(project: SegmentationProject[SettingsT], settings: SettingsT) -> TrainingResult:
    """Train on the project's data, track everything in MLflow, register the best model.

    The registered version gets the ``challenger`` alias only after training finished;
    a crash leaves the registry exactly as it was.
    """
    import mlflow  # noqa: PLC0415 - keep config errors fast: they are raised before this import

    from medai.segmentation.plots import plot_learning_curves  # noqa: PLC0415 - matplotlib
    from medai.segmentation.registry import register_segmentation_model  # noqa: PLC0415
    from medai.tracking.registry import (  # noqa: PLC0415
        VALIDATION_METRIC_TAG,
        aliased_figures,
        new_version_comparison,
    )
    from medai.tracking.runs import tracked_run  # noqa: PLC0415

    started = time.perf_counter()
    torch.manual_seed(settings.seed)
    data = project.load_data(settings)
    split = data.split
    train_loader, val_loader = data_loaders(settings, data)
    network = build_network(settings.model, num_classes=len(data.labels))
    trainer = SegmentationTrainer(network, settings)
    class_names = list(data.dataset.foreground_labels.values())
    history = History()
    best_dice, best_epoch = -math.inf, 0

    with (
        tracked_run(
            settings, project.binding.repo_root, context="training", manifest=data.manifest()
        ) as (run, lineage),
        tempfile.TemporaryDirectory() as scratch,
    ):
        mlflow.log_text(split.to_json(), "data/split.json")
        mlflow.log_params(
            {"data.num_train_cases": len(split.train), "data.num_val_cases": len(split.validation)}
        )
        best_path = Path(scratch) / "best.pt"
        total_steps = settings.train.epochs * len(train_loader)
        with tqdm(
            total=total_steps, desc="train", unit="step", dynamic_ncols=True, mininterval=1.0
        ) as progress:
            for epoch in range(1, settings.train.epochs + 1):
                epoch_start = time.perf_counter()
                lr = trainer.optimizer.param_groups[0]["lr"]
                loss = trainer.train_epoch(train_loader, progress)
                metrics = {
                    "train_loss": loss,
                    "lr": lr,
                    "epoch_seconds": time.perf_counter() - epoch_start,
                }
                history.train_loss.append((epoch, loss))
                if epoch % settings.train.val_every == 0 or epoch == settings.train.epochs:
                    per_class = trainer.validate(val_loader)
                    mean_dice = sum(per_class) / len(per_class)
                    metrics["val_dice_mean"] = mean_dice
                    metrics.update(
                        {f"val_dice_{n}": d for n, d in zip(class_names, per_class, strict=True)}
                    )
                    history.val_dice.append((epoch, mean_dice))
                    if mean_dice > best_dice:
                        best_dice, best_epoch = mean_dice, epoch
                        torch.save(network.state_dict(), best_path)
                    progress.set_postfix(
                        loss=f"{loss:.3f}", val_dice=f"{mean_dice:.3f}", best=f"{best_dice:.3f}"
                    )
                    LOGGER.info(
                        "epoch %d: loss %.4f, validation Dice %.4f (best %.4f at epoch %d)",
                        epoch,
                        loss,
                        mean_dice,
                        best_dice,
                        best_epoch,
                    )
                else:
                    progress.set_postfix(loss=f"{loss:.3f}", best=f"{best_dice:.3f}")
                mlflow.log_metrics(metrics, step=epoch)

        network.load_state_dict(torch.load(best_path, weights_only=True))
        mlflow.log_artifact(str(best_path), artifact_path="checkpoints")
        mlflow.log_metrics({VALIDATION_METRIC: best_dice, "best_epoch": best_epoch})
        mlflow.log_figure(
            plot_learning_curves(history.train_loss, history.val_dice), "plots/learning_curves.png"
        )
        before = aliased_figures(settings.registered_model_name(), VALIDATION_METRIC)
        version = register_segmentation_model(
            network,
            settings,
            labels=data.labels,
            tags={
                **lineage.tags(),
                "medai.run_id": run.info.run_id,
                VALIDATION_METRIC_TAG: VALIDATION_METRIC,
                VALIDATION_METRIC: f"{best_dice:.4f}",
                "best_epoch": str(best_epoch),
            },
        )
        comparison = new_version_comparison(
            project=project.name,
            name=settings.registered_model_name(),
            metric=VALIDATION_METRIC,
            version=version,
            before=before,
        )
    seconds = time.perf_counter() - started
    LOGGER.info(
        "registered %s version %s (best val Dice %.3f)",
        settings.registered_model_name(),
        version,
        best_dice,
    )
    return TrainingResult(
        run_id=run.info.run_id,
        model_name=settings.registered_model_name(),
        model_version=version,
        best_val_dice=best_dice,
        best_epoch=best_epoch,
        seconds=seconds,
        comparison=comparison,
    )
