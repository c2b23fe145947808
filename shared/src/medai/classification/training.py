"""A multi-label classifier on the training engine: its task, data and loaders.

``ClassificationTask`` is what the kind adds to the engine (``medai.engine``): the loss
below, and macro AUROC over the validation images. ``training_setup`` turns items
prepared by ``medai.classification.preprocessing`` (so training and serving see
identical inputs), with NaN where a label is unknown, into the task and its loaders;
``train_classifier`` fits them without tracking (tests, benchmarks), ``training_run``
with it. The items are either a dataset's ``PreparedRadiographs`` (read per item, the
whole dataset never in memory: ``medai.classification.prepared``) or ``(image, labels)``
pairs already in memory (tests, small arrays), stacked and checked here.

Loss: binary cross-entropy on logits per label, weighted by the training prevalence
(``pos_weight = negatives / positives``) so rare findings are not ignored, with unknown
labels masked out. Augmentation is mild and anatomy-preserving: small rotations,
translations and scalings, contrast and noise, but no left-right flip (the heart is on
the left; a flipped radiograph is a different, rare anatomy).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F
from monai.data import DataLoader, get_track_meta, set_track_meta
from monai.transforms import Compose, RandAdjustContrast, RandAffine, RandGaussianNoise
from monai.utils import convert_to_tensor, set_determinism
from numpy.typing import NDArray
from torch import nn
from torch.utils.data import Dataset

from medai.classification.metrics import macro_auroc
from medai.classification.prepared import PreparedRadiographs
from medai.classification.settings import TrainSettings
from medai.engine.devices import DevicePlan, plan_devices
from medai.engine.fit import fit
from medai.engine.records import EpochRecord, FitOutcome
from medai.engine.task import OptimiserSettings, TrainingTask

LOGGER = logging.getLogger(__name__)

Item = tuple[NDArray[np.floating], NDArray[np.floating]]
"""One training example: image ``(S, S)`` float32 and labels ``(K,)`` (1, 0 or NaN)."""

_IMAGE_RANK = 2
_LABEL_MATRIX_RANK = 2

MONITOR = "val_auroc_macro"
"""The validation score that ranks epochs: macro AUROC over the labels."""


class ImageSource(Protocol):
    """Images by index: ``(S, S)`` or ``(1, S, S)``, array or tensor (map-style, with a length)."""

    def __len__(self) -> int:
        """Number of images."""
        ...

    def __getitem__(self, index: int, /) -> NDArray[np.floating] | torch.Tensor:
        """Image ``index``."""
        ...


class ItemSource(Protocol):
    """``(image (S, S), labels (K,))`` by index: a list of pairs or ``PreparedRadiographs``."""

    def __len__(self) -> int:
        """Number of items."""
        ...

    def __getitem__(self, index: int, /) -> Item:
        """Item ``index``."""
        ...


class ImageLabelDataset(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """Images from ``images`` (read when indexed) and labels ``(N, K)``, with an optional transform.

    Map-style (a length and an item per index), so Lightning's ``DistributedSampler``
    shards it across DDP processes; it holds what ``images`` holds (paths and settings
    for ``PreparedRadiographs``, no open file), so it pickles into DataLoader workers.
    """

    def __init__(
        self,
        images: ImageSource,
        labels: torch.Tensor,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        """Hold the images and labels; ``transform`` maps one ``(1, S, S)`` image to another."""
        self.images = images
        self.labels = labels
        self.transform = transform

    def __len__(self) -> int:
        """Number of images."""
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Image ``(1, S, S)`` (transformed, as a plain tensor) and its labels ``(K,)``."""
        image = torch.as_tensor(self.images[index], dtype=torch.float32)
        if image.ndim == _IMAGE_RANK:
            image = image.unsqueeze(0)
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


class ClassificationTask(TrainingTask):
    """Masked, prevalence-weighted BCE; macro AUROC over the validation images."""

    monitor = MONITOR
    monitor_label = "validation macro AUROC"

    def __init__(
        self, network: nn.Module, optimiser: OptimiserSettings, pos_weight: torch.Tensor
    ) -> None:
        """Train ``network`` with ``pos_weight`` (``positive_weights`` of the training labels)."""
        super().__init__(network, optimiser)
        self.register_buffer("pos_weight", pos_weight)
        self._probabilities: list[torch.Tensor] = []
        self._targets: list[torch.Tensor] = []

    def training_loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """The masked BCE of one batch of images and labels."""
        images, labels = batch
        return masked_bce_with_logits(self.network(images), labels, self.get_buffer("pos_weight"))

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:  # noqa: ARG002
        """Keep the batch's probabilities and labels for the epoch's AUROC."""
        images, labels = batch
        self._probabilities.append(torch.sigmoid(self.network(images).float()).cpu())
        self._targets.append(labels.cpu())

    def validation_scores(self) -> dict[str, float]:
        """Macro AUROC of the epoch (NaN if no label has both classes); resets."""
        probabilities = self.gather_cases(torch.cat(self._probabilities)).double().numpy()
        targets = self.gather_cases(torch.cat(self._targets)).double().numpy()
        self._probabilities, self._targets = [], []
        return {MONITOR: macro_auroc(targets, probabilities)}


@dataclass(frozen=True)
class TrainingSetup:
    """The task and loaders of one training, and the label count they were built for."""

    task: ClassificationTask
    train_loader: DataLoader
    val_loader: DataLoader
    num_labels: int


def training_setup(
    network: nn.Module,
    train_items: ItemSource,
    val_items: ItemSource,
    *,
    train: TrainSettings,
    seed: int,
) -> TrainingSetup:
    """Check the items against each other and the network; build the task and loaders.

    ``PreparedRadiographs`` are read per item by the loaders (their labels checked here,
    their images by ``check_radiographs`` before); other items are stacked and checked
    here. Both loaders read with ``train.num_workers`` worker processes. Seeds torch,
    numpy, Python and MONAI's transforms with ``seed`` (the network's initial weights
    are the caller's: seed before building it for a reproducible run).

    Raises:
        ValueError: If the items are empty or inconsistent, train and validation images
            or label counts differ, or the network's ``num_labels`` differs from theirs.
    """
    (train_images, train_labels), (val_images, val_labels) = _checked_sources(
        network, train_items, val_items
    )
    torch.manual_seed(seed)
    set_determinism(seed=seed)
    image_size = _image_shape(train_items)[-1]
    dataset = ImageLabelDataset(
        train_images, train_labels, augmentation(image_size) if train.augment else None
    )
    train_loader = DataLoader(
        dataset,
        batch_size=train.batch_size,
        shuffle=True,
        num_workers=train.num_workers,
        # BatchNorm cannot train on a last batch of one image with 1x1 feature maps.
        drop_last=len(dataset) > train.batch_size and len(dataset) % train.batch_size == 1,
        generator=torch.Generator().manual_seed(seed),
    )
    val_loader = DataLoader(
        ImageLabelDataset(val_images, val_labels),
        batch_size=train.batch_size,
        shuffle=False,
        num_workers=train.num_workers,
    )
    optimiser = OptimiserSettings(train.learning_rate, train.weight_decay, train.epochs)
    task = ClassificationTask(network, optimiser, positive_weights(train_labels))
    return TrainingSetup(task, train_loader, val_loader, int(train_labels.shape[1]))


def train_classifier(
    network: nn.Module,
    train_items: ItemSource,
    val_items: ItemSource,
    *,
    train: TrainSettings,
    checkpoint_dir: Path,
    seed: int = 0,
    devices: DevicePlan | None = None,
    on_epoch: Callable[[EpochRecord], None] | None = None,
) -> FitOutcome:
    """Train ``network`` in place, untracked, and leave it holding its best weights.

    Args:
        network: Maps ``(N, 1, S, S)`` to logits ``(N, K)``; e.g. ``CamClassifier``.
        train_items: ``(image (S, S), labels (K,))`` pairs, images already preprocessed,
            or ``PreparedRadiographs`` (read per item).
        val_items: The same for validation (no augmentation).
        train: Epochs, optimiser and augmentation settings.
        checkpoint_dir: An empty folder for the engine's checkpoints.
        seed: Seeds shuffling and augmentation.
        devices: Where to train; ``plan_devices(train)`` when None.
        on_epoch: Called after every epoch with its record.

    Raises:
        ValueError: As ``training_setup``.
    """
    setup = training_setup(network, train_items, val_items, train=train, seed=seed)
    with plain_tensors():
        return fit(
            setup.task,
            setup.train_loader,
            setup.val_loader,
            train=train,
            devices=devices or plan_devices(train),
            checkpoint_dir=checkpoint_dir,
            on_epoch=on_epoch,
            seed=seed,
        )


def _image_shape(items: ItemSource) -> tuple[int, ...]:
    """The items' image shape: ``PreparedRadiographs`` say it, other items show it."""
    if isinstance(items, PreparedRadiographs):
        return items.image_shape
    return tuple(np.asarray(items[0][0]).shape)


def _source(items: ItemSource, name: str) -> tuple[ImageSource, torch.Tensor]:
    """The images (read per item, or stacked) and the ``(N, K)`` labels of ``items``."""
    if not isinstance(items, PreparedRadiographs):
        return stack_items([items[index] for index in range(len(items))], name)
    if not len(items):
        raise ValueError(f"{name}: no images; expected at least one")
    labels = items.labels
    if labels.ndim != _LABEL_MATRIX_RANK:
        raise ValueError(f"{name}: every item needs the same number of labels")
    known = labels[~np.isnan(labels)]
    if not np.isin(known, (0.0, 1.0)).all():
        raise ValueError(f"{name}: labels must be 1 (present), 0 (absent) or NaN (unknown)")
    return items.images, torch.from_numpy(labels)


def _checked_sources(
    network: nn.Module, train_items: ItemSource, val_items: ItemSource
) -> tuple[tuple[ImageSource, torch.Tensor], tuple[ImageSource, torch.Tensor]]:
    """Train and validation images and labels, consistent with each other and the network."""
    train_images, train_labels = _source(train_items, "train_items")
    val_images, val_labels = _source(val_items, "val_items")
    train_shape, val_shape = _image_shape(train_items), _image_shape(val_items)
    if train_shape != val_shape or train_labels.shape[1:] != val_labels.shape[1:]:
        raise ValueError(
            f"train images {train_shape} with {train_labels.shape[1]} labels "
            f"differ from validation images {val_shape} with {val_labels.shape[1]} labels"
        )
    num_labels = getattr(network, "num_labels", None)
    if num_labels is not None and num_labels != train_labels.shape[1]:
        raise ValueError(
            f"the network has {num_labels} outputs, the items {train_labels.shape[1]} labels"
        )
    return (train_images, train_labels), (val_images, val_labels)
