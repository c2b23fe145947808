"""The training loop of a multi-label classifier, without tracking or IO around it.

``train_classifier`` takes images that ``medai.classification.preprocessing`` has already
resized (so training and serving see identical inputs) and labels with NaN where a label
is unknown. It reports every epoch to a callback (the caller logs to MLflow) and returns
the network holding its best validation weights.

Loss: binary cross-entropy on logits per label, weighted by the training prevalence
(``pos_weight = negatives / positives``) so rare findings are not ignored, with unknown
labels masked out. Augmentation is mild and anatomy-preserving: small rotations,
translations and scalings, contrast and noise, but no left-right flip (the heart is on
the left; a flipped radiograph is a different, rare anatomy).
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from monai.data import DataLoader, get_track_meta, set_track_meta
from monai.transforms import Compose, RandAdjustContrast, RandAffine, RandGaussianNoise
from monai.utils import convert_to_tensor, set_determinism
from numpy.typing import NDArray
from torch import nn
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from medai.classification.metrics import macro_auroc

LOGGER = logging.getLogger(__name__)

Item = tuple[NDArray[np.floating], NDArray[np.floating]]
"""One training example: image ``(S, S)`` float32 and labels ``(K,)`` (1, 0 or NaN)."""

_IMAGE_RANK = 2


@dataclass(frozen=True)
class TrainConfig:
    """How to train; the project's settings map onto these fields.

    Attributes:
        epochs: Passes over the training images.
        batch_size: Images per optimisation step.
        learning_rate: AdamW's initial learning rate (cosine-annealed to 0).
        weight_decay: AdamW's decoupled weight decay.
        val_every: Validate every this many epochs (and always after the last).
        seed: Seeds shuffling, augmentation and torch/numpy/random.
        augment: Apply the random augmentation to training images.
        num_workers: DataLoader worker processes (0: in the main process).
    """

    epochs: int = 10
    batch_size: int = 16
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    val_every: int = 1
    seed: int = 0
    augment: bool = True
    num_workers: int = 0

    def __post_init__(self) -> None:
        """Refuse settings that cannot train, naming the field."""
        for name in ("epochs", "batch_size", "val_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate}")
        if self.weight_decay < 0 or self.num_workers < 0:
            raise ValueError(
                f"weight_decay and num_workers must not be negative, "
                f"got {self.weight_decay} and {self.num_workers}"
            )


@dataclass(frozen=True)
class EpochMetrics:
    """What one epoch measured, for the callback and the learning curves.

    Attributes:
        epoch: 1-based epoch number.
        train_loss: Mean masked, weighted BCE over the epoch's steps.
        lr: Learning rate used during the epoch.
        val_macro_auroc: Validation macro AUROC, or None when the epoch did not validate
            (NaN if no label had both classes in the validation set).
        seconds: Wall time of the epoch including validation.
    """

    epoch: int
    train_loss: float
    lr: float
    val_macro_auroc: float | None
    seconds: float

    def as_metrics(self) -> dict[str, float]:
        """Flat names for ``mlflow.log_metrics(..., step=epoch)``."""
        metrics = {"train_loss": self.train_loss, "lr": self.lr, "epoch_seconds": self.seconds}
        if self.val_macro_auroc is not None:
            metrics["val_auroc_macro"] = self.val_macro_auroc
        return metrics


@dataclass(frozen=True)
class TrainOutcome:
    """The result of ``train_classifier``; the network already holds the best weights.

    Attributes:
        best_epoch: Epoch whose weights were kept.
        best_macro_auroc: Its validation macro AUROC.
        history: Every epoch's metrics, in order.
        seconds: Wall time of the whole training.
    """

    best_epoch: int
    best_macro_auroc: float
    history: tuple[EpochMetrics, ...]
    seconds: float


class ImageLabelDataset(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """Images ``(N, 1, S, S)`` and labels ``(N, K)`` in memory, with an optional transform."""

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        """Hold the tensors; ``transform`` maps one ``(1, S, S)`` image to another."""
        self.images = images
        self.labels = labels
        self.transform = transform

    def __len__(self) -> int:
        """Number of images."""
        return int(self.images.shape[0])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Image ``(1, S, S)`` (transformed, as a plain tensor) and its labels ``(K,)``."""
        image = self.images[index]
        if self.transform is not None:
            image = convert_to_tensor(self.transform(image), track_meta=False)
        return image, self.labels[index]


def stack_items(items: Sequence[Item], name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Images ``(N, 1, S, S)`` and labels ``(N, K)`` float32 tensors from ``items``.

    Raises:
        ValueError: If ``items`` is empty, an item's shapes differ from the first's, its
            image is not finite or a label is not 0, 1 or NaN (the message names ``name``
            and the item index).
    """
    if not items:
        raise ValueError(f"{name}: no images; expected at least one")
    first_image, first_labels = np.asarray(items[0][0]), np.asarray(items[0][1])
    if first_image.ndim != _IMAGE_RANK:
        raise ValueError(f"{name}[0]: expected a 2D image (S, S), got shape {first_image.shape}")
    images = np.empty((len(items), 1, *first_image.shape), dtype=np.float32)
    labels = np.empty((len(items), first_labels.size), dtype=np.float32)
    for index, (image, label) in enumerate(items):
        pixels, targets = np.asarray(image), np.asarray(label)
        if pixels.shape != first_image.shape or targets.shape != first_labels.shape:
            raise ValueError(
                f"{name}[{index}]: image {pixels.shape} and labels {targets.shape} differ from "
                f"the first item's {first_image.shape} and {first_labels.shape}"
            )
        if not np.isfinite(pixels).all():
            raise ValueError(f"{name}[{index}]: image has non-finite values")
        known = targets[~np.isnan(targets)]
        if not np.isin(known, (0.0, 1.0)).all():
            raise ValueError(
                f"{name}[{index}]: labels must be 1 (present), 0 (absent) or NaN (unknown)"
            )
        images[index, 0] = pixels
        labels[index] = targets
    return torch.from_numpy(images), torch.from_numpy(labels)


def positive_weights(labels: torch.Tensor) -> torch.Tensor:
    """``negatives / positives`` per label (NaN labels ignored); 1 where a class is absent.

    Balances each label's positive and negative terms in the loss, so a finding present
    in 2% of images still moves the network.
    """
    known = ~torch.isnan(labels)
    positives = ((labels == 1) & known).sum(dim=0).to(torch.float32)
    negatives = ((labels == 0) & known).sum(dim=0).to(torch.float32)
    usable = (positives > 0) & (negatives > 0)
    for column in torch.nonzero(~usable).flatten().tolist():
        LOGGER.warning(
            "label column %d has %d positive and %d negative training images; "
            "its positive weight is 1",
            column,
            int(positives[column]),
            int(negatives[column]),
        )
    return torch.where(usable, negatives / positives.clamp_min(1.0), torch.ones_like(positives))


def masked_bce_with_logits(
    logits: torch.Tensor, targets: torch.Tensor, pos_weight: torch.Tensor
) -> torch.Tensor:
    """Mean binary cross-entropy over the known (non-NaN) targets; 0 if none is known."""
    known = ~torch.isnan(targets)
    filled = torch.where(known, targets, torch.zeros_like(targets))
    losses = F.binary_cross_entropy_with_logits(
        logits, filled, pos_weight=pos_weight, reduction="none"
    )
    return (losses * known).sum() / known.sum().clamp_min(1)


def augmentation(image_size: int) -> Compose:
    """Random, anatomy-preserving changes of a ``(1, S, S)`` radiograph (no flips).

    Rotation up to about 6 degrees, shifts up to 5% of the side, scaling by up to 10%,
    gamma contrast in [0.8, 1.25] and faint Gaussian noise.
    """
    shift = 0.05 * image_size
    return Compose(
        [
            RandAffine(
                prob=0.8,
                rotate_range=(0.1,),
                translate_range=(shift, shift),
                scale_range=(0.1, 0.1),
                spatial_size=(image_size, image_size),
                padding_mode="border",
                cache_grid=True,
            ),
            RandAdjustContrast(prob=0.3, gamma=(0.8, 1.25)),
            RandGaussianNoise(prob=0.3, mean=0.0, std=0.02),
        ]
    )


@contextmanager
def plain_tensors() -> Iterator[None]:
    """Switch off MONAI's metadata tracking for the block (and restore it after).

    Augmenting plain tensors skips the MetaTensor bookkeeping, which costs more than the
    transforms themselves on small 2D images (about 2.5x here); nothing downstream needs
    the metadata. DataLoader workers forked inside the block inherit the setting.
    """
    previous = get_track_meta()
    set_track_meta(False)
    try:
        yield
    finally:
        set_track_meta(previous)


def predict_logits(
    network: nn.Module,
    images: torch.Tensor,
    *,
    batch_size: int = 32,
    device: str | torch.device = "cpu",
) -> torch.Tensor:
    """Logits ``(N, K)`` of images ``(N, C, S, S)`` in eval mode, in batches, on the CPU."""
    network.eval()
    outputs = []
    with torch.inference_mode():
        for start in range(0, images.shape[0], batch_size):
            batch = images[start : start + batch_size].to(device)
            outputs.append(network(batch).float().cpu())
    return torch.cat(outputs)


def train_classifier(
    network: nn.Module,
    train_items: Sequence[Item],
    val_items: Sequence[Item],
    *,
    config: TrainConfig,
    on_epoch: Callable[[EpochMetrics], None] | None = None,
    device: str | torch.device = "cpu",
) -> TrainOutcome:
    """Train ``network`` in place and leave it holding its best validation weights.

    Seeds torch, numpy, Python and MONAI's transforms with ``config.seed`` (the network's
    initial weights are the caller's: seed before building it for a reproducible run).

    Args:
        network: Maps ``(N, 1, S, S)`` to logits ``(N, K)``; e.g. ``CamClassifier``.
        train_items: ``(image (S, S), labels (K,))`` pairs, images already preprocessed.
        val_items: The same for validation (no augmentation).
        config: Epochs, optimiser and augmentation settings.
        on_epoch: Called after every epoch with its ``EpochMetrics``.
        device: Where to train.

    Returns:
        ``TrainOutcome``: best epoch, its macro AUROC, the per-epoch history.

    Raises:
        ValueError: If the items are empty or inconsistent, train and validation images
            or label counts differ, or the network's ``num_labels`` differs from theirs.
    """
    started = time.perf_counter()
    train_images, train_labels, val_images, val_labels = _checked_tensors(
        network, train_items, val_items
    )
    torch.manual_seed(config.seed)
    set_determinism(seed=config.seed)
    image_size = int(train_images.shape[-1])
    dataset = ImageLabelDataset(
        train_images, train_labels, augmentation(image_size) if config.augment else None
    )
    loader = DataLoader(
        dataset,
        batch_size=config.batch_size,
        shuffle=True,
        num_workers=config.num_workers,
        # BatchNorm cannot train on a last batch of one image with 1x1 feature maps.
        drop_last=len(dataset) > config.batch_size and len(dataset) % config.batch_size == 1,
        generator=torch.Generator().manual_seed(config.seed),
    )
    network.to(device)
    pos_weight = positive_weights(train_labels).to(device)
    optimizer = torch.optim.AdamW(
        network.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
    val_targets = val_labels.numpy().astype(np.float64)

    history: list[EpochMetrics] = []
    best_state: dict[str, torch.Tensor] | None = None
    best_score, best_epoch, best_auroc = -math.inf, 0, float("nan")
    with (
        plain_tensors(),
        tqdm(
            total=config.epochs * len(loader),
            desc="train",
            unit="step",
            disable=not sys.stderr.isatty(),
            dynamic_ncols=True,
            mininterval=1.0,
        ) as progress,
    ):
        for epoch in range(1, config.epochs + 1):
            epoch_start = time.perf_counter()
            lr = float(optimizer.param_groups[0]["lr"])
            train_loss = _train_epoch(
                network, loader, optimizer, pos_weight=pos_weight, device=device, progress=progress
            )
            scheduler.step()

            val_auroc: float | None = None
            if epoch % config.val_every == 0 or epoch == config.epochs:
                logits = predict_logits(
                    network, val_images, batch_size=config.batch_size, device=device
                )
                val_auroc = macro_auroc(val_targets, torch.sigmoid(logits).double().numpy())
                score = val_auroc if math.isfinite(val_auroc) else -math.inf
                if best_state is None or score > best_score:
                    best_score, best_epoch, best_auroc = score, epoch, val_auroc
                    best_state = {
                        key: value.detach().clone() for key, value in network.state_dict().items()
                    }
                progress.set_postfix(loss=f"{train_loss:.3f}", val_auroc=f"{val_auroc:.3f}")
                LOGGER.info(
                    "epoch %d: loss %.4f, validation macro AUROC %.4f (best %.4f at epoch %d)",
                    epoch,
                    train_loss,
                    val_auroc,
                    best_auroc,
                    best_epoch,
                )
            metrics = EpochMetrics(
                epoch=epoch,
                train_loss=train_loss,
                lr=lr,
                val_macro_auroc=val_auroc,
                seconds=time.perf_counter() - epoch_start,
            )
            history.append(metrics)
            if on_epoch is not None:
                on_epoch(metrics)

    if best_state is not None:
        network.load_state_dict(best_state)
    network.eval()
    return TrainOutcome(
        best_epoch=best_epoch,
        best_macro_auroc=best_auroc,
        history=tuple(history),
        seconds=time.perf_counter() - started,
    )


def _checked_tensors(
    network: nn.Module, train_items: Sequence[Item], val_items: Sequence[Item]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Stacked train and validation images and labels, consistent with each other."""
    train_images, train_labels = stack_items(train_items, "train_items")
    val_images, val_labels = stack_items(val_items, "val_items")
    if (
        train_images.shape[1:] != val_images.shape[1:]
        or train_labels.shape[1:] != val_labels.shape[1:]
    ):
        raise ValueError(
            f"train images {tuple(train_images.shape[2:])} with {train_labels.shape[1]} labels "
            f"differ from validation images {tuple(val_images.shape[2:])} with "
            f"{val_labels.shape[1]} labels"
        )
    num_labels = getattr(network, "num_labels", None)
    if num_labels is not None and num_labels != train_labels.shape[1]:
        raise ValueError(
            f"the network has {num_labels} outputs, the items {train_labels.shape[1]} labels"
        )
    return train_images, train_labels, val_images, val_labels


def _train_epoch(
    network: nn.Module,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    *,
    pos_weight: torch.Tensor,
    device: str | torch.device,
    progress: tqdm[Any],
) -> float:
    """One pass over ``loader``; returns the mean loss (one host sync, at the end)."""
    network.train()
    total, steps = torch.zeros((), device=device), 0
    for images, labels in loader:
        optimizer.zero_grad(set_to_none=True)
        loss = masked_bce_with_logits(network(images.to(device)), labels.to(device), pos_weight)
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        total += loss.detach()
        steps += 1
        progress.update(1)
    return float(total) / max(steps, 1)
