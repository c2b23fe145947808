"""The segmentation kind's training task and loaders: what it adds to the training engine.

``SegmentationTask`` (the kind's ``task`` contract member) is Dice + cross-entropy on
random patches, and mean foreground Dice over whole validation volumes by sliding window
in the training geometry. Label-based data trains one softmax over the labels;
region-based data (``medai.segmentation.regions``: nested regions such as whole tumour /
tumour core / enhancing tumour) one sigmoid per region with Dice + binary cross-entropy,
scored per region on sigmoid > 0.5. ``data_loaders`` serves the cached, preprocessed
cases. Nothing here tracks or registers (``medai.segmentation.training.train`` does,
through ``medai.engine.run``): the task and its data import torch and MONAI, not MLflow,
so they run wherever a GPU is, and a launcher of several processes can build them in
each.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import monai
import torch
from monai.data import CacheDataset, DataLoader, Dataset, MetaTensor, decollate_batch
from monai.losses import DiceCELoss, DiceLoss
from monai.metrics import DiceMetric
from monai.transforms import AsDiscrete

from medai.config import ConfigError
from medai.data.array_cache import callable_name
from medai.data.case_cache import cached_dataset, check_cases
from medai.engine.devices import DevicePlan, plan_devices
from medai.engine.task import OptimiserSettings, TrainingTask
from medai.errors import find_cause
from medai.io import MedicalImageError
from medai.segmentation.data import SegmentationData, case_item
from medai.segmentation.extensions import IntensityNormalizer
from medai.segmentation.networks import SegmentationNetwork, check_network_fits
from medai.segmentation.regions import Regions
from medai.segmentation.segmenter import Segmenter
from medai.segmentation.settings import SegmentationSettings
from medai.segmentation.transforms import (
    IMAGE,
    LABEL,
    training_transforms,
    validation_transforms,
)

if TYPE_CHECKING:
    from medai.segmentation.project import SegmentationProject, SettingsT

MONITOR = "val_dice_mean"
"""The validation score that ranks epochs: mean foreground (or region) Dice over the volumes."""


def plain_tensor(tensor: torch.Tensor) -> torch.Tensor:
    """Drop MONAI's metadata before the network: MetaTensor dispatch adds work to every op."""
    return tensor.as_tensor() if isinstance(tensor, MetaTensor) else tensor


def optimiser_settings(settings: SegmentationSettings) -> OptimiserSettings:
    """AdamW and cosine schedule from the ``train`` section."""
    train = settings.train
    return OptimiserSettings(train.learning_rate, train.weight_decay, train.epochs)


class RegionLoss(torch.nn.Module):
    """Sigmoid Dice + binary cross-entropy over region channels (nnU-Net's region loss).

    MONAI's ``DiceCELoss(sigmoid=True)`` would take the softmax cross-entropy of a
    multi-channel target, which treats nested regions as exclusive classes; here every
    region is its own binary problem.
    """

    def __init__(self) -> None:
        """Dice on sigmoid probabilities, BCE on the logits."""
        super().__init__()
        self.dice = DiceLoss(sigmoid=True)
        self.bce = torch.nn.BCEWithLogitsLoss()

    def forward(self, logits: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """Loss of ``(N, R, ...)`` logits against ``(N, R, ...)`` region masks."""
        dice: torch.Tensor = self.dice(logits, masks)
        bce: torch.Tensor = self.bce(logits, masks)
        return dice + bce


class SegmentationTask(TrainingTask):
    """Dice + cross-entropy on patches; mean foreground (or region) Dice per validation volume."""

    monitor = MONITOR
    monitor_label = "validation mean foreground Dice"

    def __init__(
        self,
        network: SegmentationNetwork,
        settings: SegmentationSettings,
        class_names: Sequence[str],
        regions: Regions | None = None,
        normalizer: IntensityNormalizer | None = None,
    ) -> None:
        """Set up loss and metric for ``network``.

        Args:
            network: Logits per label (softmax) or per region (sigmoid).
            settings: The run's settings.
            class_names: The foreground labels' names (label-based; ignored with regions).
            regions: The regions the network predicts, one output each; None: labels.
            normalizer: The project's normaliser (``normalize: project``), or None.
        """
        super().__init__(network, optimiser_settings(settings))
        self.settings = settings
        self.regions = regions
        self.normalizer = normalizer
        self.class_names = tuple(class_names) if regions is None else regions.names
        self.loss: torch.nn.Module = (
            DiceCELoss(to_onehot_y=True, softmax=True) if regions is None else RegionLoss()
        )
        # Regions are all foreground: every output channel is scored.
        self.dice = DiceMetric(
            include_background=regions is not None, reduction="mean_batch", ignore_empty=False
        )
        self._to_pred = AsDiscrete(argmax=True, to_onehot=network.num_classes)
        self._to_true = AsDiscrete(to_onehot=network.num_classes)
        self._segmenter: Segmenter | None = None

    def training_loss(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """DiceCE (labels) or sigmoid Dice + BCE (regions) of the patch batch."""
        logits = self.network(plain_tensor(batch[IMAGE]))
        loss: torch.Tensor = self.loss(logits, plain_tensor(batch[LABEL]))
        return loss

    def _predicted(self, logits: torch.Tensor) -> list[torch.Tensor]:
        if self.regions is not None:
            return [(torch.sigmoid(x) > 0.5).float() for x in decollate_batch(logits)]  # noqa: PLR2004
        return [torch.as_tensor(self._to_pred(x)) for x in decollate_batch(logits)]

    def _true(self, label: torch.Tensor) -> list[torch.Tensor]:
        if self.regions is not None:  # the validation chain already made region masks
            return list(decollate_batch(label))
        return [torch.as_tensor(self._to_true(y)) for y in decollate_batch(label)]

    def on_validation_epoch_start(self) -> None:
        """Validation segments whole volumes by sliding window, on the task's device."""
        self._segmenter = Segmenter(
            self.network,
            self.settings.preprocessing,
            self.settings.inference,
            str(self.device),
            limits=self.settings.limits,
            normalizer=self.normalizer,
        )

    def validation_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int) -> None:  # noqa: ARG002
        """Accumulate the Dice of one whole volume (in the training geometry)."""
        if self._segmenter is None:  # pragma: no cover - Lightning calls the epoch hook first
            self.on_validation_epoch_start()
        assert self._segmenter is not None  # noqa: S101 - narrowed for mypy
        logits = self._segmenter.logits(plain_tensor(batch[IMAGE]))
        self.dice(y_pred=self._predicted(logits), y=self._true(plain_tensor(batch[LABEL])))

    def validation_scores(self) -> dict[str, float]:
        """Mean Dice and Dice per foreground class (or region); resets the metric."""
        # Per case and class; NaN-free here (ignore_empty=False), averaged over the cases
        # of every process as DiceMetric's mean_batch would in one process.
        cases = self.gather_cases(torch.as_tensor(self.dice.get_buffer()).float())  # type: ignore[no-untyped-call]
        self.dice.reset()  # type: ignore[no-untyped-call]
        per_class = [float(v) for v in torch.nanmean(cases, dim=0).flatten()]
        scores = {f"val_dice_{n}": d for n, d in zip(self.class_names, per_class, strict=True)}
        return {MONITOR: sum(per_class) / len(per_class), **scores}


def _build_loaders(
    settings: SegmentationSettings,
    data: SegmentationData,
    normalizer: IntensityNormalizer | None,
    project_dir: Path | None = None,
) -> tuple[DataLoader, DataLoader]:
    """The loaders of ``train.cache``: cases in memory, on disk, or preprocessed every epoch.

    Whatever the mode, every case's deterministic chain (load, check, resample,
    normalise) has run once before this returns, so a broken case fails here, before
    any run opens; only ``memory`` keeps the result in RAM.
    """
    labels = list(data.labels)
    channels = data.dataset.channels
    regions = data.regions
    train = settings.train
    train_items = [case_item(c) for c in data.training_cases()]
    val_items = [case_item(c) for c in data.validation_cases()]
    train_chain = training_transforms(
        settings.preprocessing,
        train,
        labels,
        settings.limits,
        channels=channels,
        regions=regions,
        normalizer=normalizer,
    )
    val_chain = validation_transforms(
        settings.preprocessing,
        labels,
        settings.limits,
        channels=channels,
        regions=regions,
        normalizer=normalizer,
    )
    train_ds: Dataset
    val_ds: Dataset
    if train.cache == "memory":
        train_ds = CacheDataset(
            train_items, train_chain, cache_rate=train.cache_rate, num_workers=None, progress=False
        )
        val_ds = CacheDataset(val_items, val_chain, cache_rate=train.cache_rate, progress=False)
        for cached in (train_ds, val_ds):  # the cases left out of memory are checked too
            check_cases(Dataset(cached.data[cached.cache_num :], cached.transform))
    else:
        if train.cache == "disk":
            root = train.cache_dir
            if not root.is_absolute():
                if project_dir is None:
                    raise ConfigError(
                        "train.cache_dir",
                        None,
                        f"{root} is relative and these loaders were given no project "
                        "folder; expected an absolute path",
                    )
                root = project_dir / root
            described = {
                "kind": "segmentation",
                "format": 1,
                "preprocessing": settings.preprocessing.model_dump(mode="json"),
                "limits": settings.limits.model_dump(mode="json"),
                "labels": sorted(labels),
                "channels": list(channels),
                "regions": None
                if regions is None
                else [regions.names, regions.labels, regions.class_order],
                "normalizer": callable_name(normalizer),
                "versions": {"monai": monai.__version__, "torch": torch.__version__},
            }
            try:
                train_ds = cached_dataset(
                    train_items, train_chain, root, {**described, "chain": "training"}
                )
                val_ds = cached_dataset(
                    val_items, val_chain, root, {**described, "chain": "validation"}
                )
            except OSError as exc:
                raise ConfigError(
                    "train.cache_dir",
                    None,
                    f"{root} cannot hold the case cache ({exc.strerror or exc}); expected a "
                    "writable folder (or set train.cache: memory or none)",
                ) from None
        else:
            train_ds, val_ds = Dataset(train_items, train_chain), Dataset(val_items, val_chain)
        check_cases(train_ds)
        check_cases(val_ds)
    train_loader = DataLoader(
        train_ds,
        batch_size=train.batch_size,
        shuffle=True,
        num_workers=train.num_workers,
    )
    return train_loader, DataLoader(val_ds, batch_size=1, num_workers=0)


def data_loaders(
    settings: SegmentationSettings,
    data: SegmentationData,
    normalizer: IntensityNormalizer | None = None,
    *,
    project_dir: Path | None = None,
) -> tuple[DataLoader, DataLoader]:
    """Training and validation loaders over preprocessed volumes, cached as ``train.cache`` says.

    ``normalizer`` is the project's (``normalize: project``); ``project_dir`` is where a
    relative ``train.cache_dir`` starts. Every case is checked (and cached, unless
    ``train.cache`` is ``none``) before this returns; a broken case raises its own
    error (naming the file), not MONAI's wrapper.

    Raises:
        medai.io.MedicalImageError: a case cannot be used (the file is named).
        medai.config.ConfigError: ``train.cache_dir`` cannot be used.
    """
    try:
        return _build_loaders(settings, data, normalizer, project_dir)
    except RuntimeError as exc:
        cause = find_cause(exc, (MedicalImageError,))
        if cause is None:
            raise
        raise cause from None


@dataclass(frozen=True)
class PreparedFit:
    """Everything one fit of a project needs, built once, as ``train`` and benchmarks use it."""

    devices: DevicePlan
    data: SegmentationData
    network: SegmentationNetwork
    task: SegmentationTask
    train_loader: DataLoader
    val_loader: DataLoader


def prepare_fit(project: SegmentationProject[SettingsT], settings: SettingsT) -> PreparedFit:
    """Check the config, read the data, build and check the network, its task and loaders.

    The order is the user's: config problems (devices, the normaliser) before any data is
    read, a network that does not fit before any case is cached.

    Raises:
        medai.config.ConfigError: ``train.device`` / ``train.precision`` cannot be honoured
            here, or ``preprocessing.normalize`` does not match the project's normaliser.
        medai.data.DatasetError, medai.io.MedicalImageError: the data cannot be used.
        medai.errors.NetworkContractError: the network's channels differ from the data's.
    """
    devices = plan_devices(settings.train)
    project.check_preprocessing(settings.preprocessing)
    normalizer = project.normalizer_for(settings.preprocessing)
    torch.manual_seed(settings.seed)
    data = project.load_data(settings)
    in_channels = len(data.dataset.channels)
    regions = data.regions
    out_channels = data.output_channels
    network = project.build_network(settings, in_channels, out_channels)
    outputs = (
        "labels (background included)"
        if regions is None
        else f"regions ({', '.join(regions.names)})"
    )
    check_network_fits(network, in_channels, out_channels, outputs=outputs)
    train_loader, val_loader = data_loaders(
        settings, data, normalizer, project_dir=project.binding.project_dir
    )
    task = SegmentationTask(
        network, settings, list(data.dataset.foreground_labels.values()), regions, normalizer
    )
    return PreparedFit(devices, data, network, task, train_loader, val_loader)
