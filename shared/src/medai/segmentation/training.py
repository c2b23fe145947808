"""Segmentation on the training engine: the task (loss, validation Dice) and ``train``.

``SegmentationTask`` is what the kind adds to the engine (``medai.engine``): Dice +
cross-entropy on random patches, and mean foreground Dice over whole validation volumes
by sliding window in the training geometry. ``train`` reads the project's data, builds
its network, task and loaders, and hands them to ``medai.engine.run.run_training``,
which does the epochs, the MLflow run and the registration.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from monai.data import CacheDataset, DataLoader, Dataset, MetaTensor, decollate_batch
from monai.losses import DiceCELoss
from monai.metrics import DiceMetric
from monai.transforms import AsDiscrete

from medai.engine.devices import plan_devices
from medai.engine.run import TrainingPlan, TrainingResult, ranking_metric, run_training
from medai.engine.task import OptimiserSettings, TrainingTask
from medai.errors import find_cause
from medai.io import MedicalImageError
from medai.segmentation.data import SegmentationData, case_item
from medai.segmentation.networks import SegmentationNetwork, build_network, check_network_fits
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

MONITOR = "val_dice_mean"
"""The validation score that ranks epochs: mean foreground Dice over the volumes."""

VALIDATION_METRIC = ranking_metric(MONITOR)
"""The run metric that ranks a training: the best epoch's mean foreground Dice."""


def plain_tensor(tensor: torch.Tensor) -> torch.Tensor:
    """Drop MONAI's metadata before the network: MetaTensor dispatch adds work to every op."""
    return tensor.as_tensor() if isinstance(tensor, MetaTensor) else tensor


def optimiser_settings(settings: SegmentationSettings) -> OptimiserSettings:
    """AdamW and cosine schedule from the ``train`` section."""
    train = settings.train
    return OptimiserSettings(train.learning_rate, train.weight_decay, train.epochs)


class SegmentationTask(TrainingTask):
    """Dice + cross-entropy on patches; mean foreground Dice per validation volume."""

    monitor = MONITOR
    monitor_label = "validation mean foreground Dice"

    def __init__(
        self,
        network: SegmentationNetwork,
        settings: SegmentationSettings,
        class_names: Sequence[str],
    ) -> None:
        """Set up loss and metric for ``network``, whose foreground classes are named."""
        super().__init__(network, optimiser_settings(settings))
        self.segmentation_network = network
        self.settings = settings
        self.class_names = tuple(class_names)
        self.loss = DiceCELoss(to_onehot_y=True, softmax=True)
        self.dice = DiceMetric(include_background=False, reduction="mean_batch", ignore_empty=False)
        self._to_pred = AsDiscrete(argmax=True, to_onehot=network.num_classes)
        self._to_true = AsDiscrete(to_onehot=network.num_classes)
        self._segmenter: Segmenter | None = None

    def training_loss(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """DiceCE of the patch batch."""
        logits = self.network(plain_tensor(batch[IMAGE]))
        loss: torch.Tensor = self.loss(logits, plain_tensor(batch[LABEL]))
        return loss

    def on_validation_epoch_start(self) -> None:
        """Validation segments whole volumes by sliding window, on the task's device."""
        self._segmenter = Segmenter(
            self.network,
            self.settings.preprocessing,
            self.settings.inference,
            str(self.device),
            limits=self.settings.limits,
        )

    def validation_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int) -> None:  # noqa: ARG002
        """Accumulate the Dice of one whole volume (in the training geometry)."""
        if self._segmenter is None:  # pragma: no cover - Lightning calls the epoch hook first
            self.on_validation_epoch_start()
        assert self._segmenter is not None  # noqa: S101 - narrowed for mypy
        logits = self._segmenter.logits(plain_tensor(batch[IMAGE]))
        preds = [torch.as_tensor(self._to_pred(x)) for x in decollate_batch(logits)]
        truths = [
            torch.as_tensor(self._to_true(y)) for y in decollate_batch(plain_tensor(batch[LABEL]))
        ]
        self.dice(y_pred=preds, y=truths)

    def validation_scores(self) -> dict[str, float]:
        """Mean foreground Dice and Dice per foreground class; resets the metric."""
        per_class = [float(v) for v in torch.as_tensor(self.dice.aggregate()).flatten()]
        self.dice.reset()  # type: ignore[no-untyped-call]
        scores = {f"val_dice_{n}": d for n, d in zip(self.class_names, per_class, strict=True)}
        return {MONITOR: sum(per_class) / len(per_class), **scores}


def _build_loaders(
    settings: SegmentationSettings, data: SegmentationData
) -> tuple[DataLoader, DataLoader]:
    labels = list(data.labels)
    channels = data.dataset.channels
    train_items = [case_item(c) for c in data.training_cases()]
    val_items = [case_item(c) for c in data.validation_cases()]
    train_ds = CacheDataset(
        train_items,
        training_transforms(
            settings.preprocessing, settings.train, labels, settings.limits, channels=channels
        ),
        cache_rate=settings.train.cache_rate,
        num_workers=None,
        progress=False,
    )
    val_ds = Dataset(
        val_items,
        validation_transforms(settings.preprocessing, labels, settings.limits, channels=channels),
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

    Raises:
        medai.config.ConfigError: ``train.device`` / ``train.precision`` cannot be honoured
            here (before any data is read).
        medai.data.DatasetError, medai.io.MedicalImageError: the data cannot be used.
        medai.errors.NetworkContractError: the network's channels differ from the data's.
    """
    from medai.segmentation.registry import register_model  # noqa: PLC0415

    started = time.perf_counter()
    devices = plan_devices(settings.train)
    torch.manual_seed(settings.seed)
    data = project.load_data(settings)
    in_channels = len(data.dataset.channels)
    network = build_network(settings.model, len(data.labels), in_channels)
    check_network_fits(network, in_channels, len(data.labels))
    train_loader, val_loader = data_loaders(settings, data)
    task = SegmentationTask(network, settings, list(data.dataset.foreground_labels.values()))

    def register(tags: Mapping[str, str]) -> str:
        return register_model(
            network,
            settings,
            labels=data.labels,
            tags=dict(tags),
            channels=data.dataset.channels,
            regions=data.regions,
        )

    params: dict[str, Any] = {
        "data.num_train_cases": len(data.split.train),
        "data.num_val_cases": len(data.split.validation),
    }
    return run_training(
        TrainingPlan(
            project=project.name,
            settings=settings,
            train=settings.train,
            devices=devices,
            repo_root=project.binding.repo_root,
            manifest=data.manifest(),
            split=data.split.to_json(),
            params=params,
            task=task,
            train_loader=train_loader,
            val_loader=val_loader,
            register=register,
        ),
        started=started,
    )
