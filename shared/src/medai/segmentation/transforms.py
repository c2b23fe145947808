"""MONAI transform chains, one definition shared by training, evaluation and prediction.

Serving must see exactly what training saw, so the geometry (orientation, spacing) and
the intensity window are built here from one config section and nowhere else (the ONNX
server reproduces them in numpy: ``medai.segmentation.onnx_segmenter``). A case whose
header declares a geometry that respacing would blow up is refused when it is loaded,
naming its file, from its header: before its voxels are decoded and before ``Spacingd``
allocates the grid (``medai.inference.budget``). A case's image is one file (3D, or 4D
with the channels last) or one 3D file per channel (``medai.io.channels``); either loads
as one (C, X, Y, Z) MetaTensor, so the chains serve single- and multi-channel data alike.
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.data import MetaTensor
from monai.transforms import (
    Compose,
    MapTransform,
    NormalizeIntensityd,
    Orientationd,
    RandCropByPosNegLabeld,
    RandScaleIntensityd,
    RandShiftIntensityd,
    ScaleIntensityRanged,
    Spacingd,
    SpatialPadd,
)

from medai.config.sections import WorkLimits
from medai.inference import WorkLimitError, WorkPlan, check_work, plan_volume_segmentation
from medai.io import ChannelVolume, MedicalImageError, Volume, read_nifti
from medai.io.channels import OpenedChannels, open_channels
from medai.io.nifti import open_nifti
from medai.segmentation.data import IMAGE, LABEL
from medai.segmentation.extensions import IntensityNormalizer
from medai.segmentation.regions import Regions
from medai.segmentation.settings import PreprocessingSettings, TrainSettings

__all__ = [
    "IMAGE",
    "LABEL",
    "LoadCased",
    "ProjectNormalized",
    "RegionMasksd",
    "channels_to_metatensor",
    "geometry_and_intensity",
    "image_files",
    "inference_transforms",
    "intensity_normalisation",
    "training_transforms",
    "validation_transforms",
    "volume_to_metatensor",
]


def volume_to_metatensor(volume: Volume) -> MetaTensor:
    """A channel-first MetaTensor carrying the volume's affine, as MONAI transforms expect."""
    array = np.ascontiguousarray(volume.array[np.newaxis], dtype=np.float32)
    return MetaTensor(
        torch.from_numpy(array), affine=torch.from_numpy(volume.affine.astype(np.float64))
    )


def channels_to_metatensor(volume: ChannelVolume) -> MetaTensor:
    """The (C, X, Y, Z) MetaTensor of a multi-channel volume, carrying its affine."""
    array = np.ascontiguousarray(volume.array, dtype=np.float32)
    return MetaTensor(
        torch.from_numpy(array), affine=torch.from_numpy(volume.affine.astype(np.float64))
    )


def image_files(value: object) -> list[Path]:
    """The image file(s) of an item: one path, or a list of them (``case_item``'s form).

    Raises:
        TypeError: ``value`` is neither a path nor a non-empty list of paths.
    """
    if isinstance(value, str | os.PathLike):
        return [Path(value)]
    if (
        isinstance(value, list | tuple)
        and value
        and all(isinstance(item, str | os.PathLike) for item in value)
    ):
        return [Path(item) for item in value]
    raise TypeError(f"item {IMAGE!r} must be a file path or a list of them, got {value!r}")


class LoadCased(MapTransform):
    """Load an image/label pair through ``medai.io`` and check they belong together.

    MONAI's ``LoadImaged`` would do the reading, but its errors do not say which case is
    broken; here every problem names the file. The image item is one path or a list of
    them (``medai.segmentation.data.case_item``): one 3D file, one 4D file with the
    channels last, or one 3D file per channel.
    """

    def __init__(
        self,
        allowed_labels: Sequence[int],
        prep: PreprocessingSettings | None = None,
        limits: WorkLimits | None = None,
        channels: Sequence[str] | None = None,
    ) -> None:
        """Remember which label values and channels the dataset declares, and the limits.

        Args:
            allowed_labels: The label values of ``dataset.json``.
            prep: The geometry the chain resamples to; None checks no grid.
            limits: The largest grid a step may produce (all channels together count
                against ``max_grid_voxels`` too); None: the defaults.
            channels: The dataset's channel names, in order (``DecathlonDataset.channels``):
                an image with another channel count is refused. None: any count.
        """
        super().__init__(keys=[IMAGE, LABEL], allow_missing_keys=True)
        self.allowed_labels = np.asarray(sorted(allowed_labels))
        self.prep = prep
        self.limits = limits or WorkLimits()
        self.channels = tuple(channels) if channels is not None else None

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        """Replace the ``image`` path(s) (and ``label`` path) by MetaTensors.

        Raises:
            MedicalImageError: A file cannot be used, the channels disagree or their count
                is not the dataset's (``ChannelMismatchError``, ``ChannelCountError``), the
                label is not on the image's grid or holds undeclared values;
                ``WorkLimitError`` when the case's grids would exceed ``limits``.
        """
        out = dict(data)
        files = image_files(out[IMAGE])
        opened = self._open(files)
        self._check_grids(files[0], opened)
        opened.check_voxels(self.limits.max_grid_voxels)
        image = opened.decode()
        out[IMAGE] = channels_to_metatensor(image)
        if LABEL in out:
            label_path = Path(out[LABEL])
            label = read_nifti(label_path)
            self._check_label(label_path, image, label)
            out[LABEL] = volume_to_metatensor(label)
        return out

    def _open(self, files: Sequence[Path]) -> OpenedChannels:
        """Check the headers of the case's image file(s); no voxel is decoded."""
        return open_channels([(path, open_nifti(path)) for path in files], self.channels)

    def _check_grids(self, path: Path, image: OpenedChannels) -> None:
        """Refuse a case whose reoriented, respaced or padded grid exceeds the limit."""
        if self.prep is None:
            return
        plan = plan_volume_segmentation(
            image.shape,
            image.affine,
            orientation=self.prep.orientation,
            target_spacing=self.prep.target_spacing,
            patch_size=self.prep.patch_size,
            overlap=0.0,
            sw_batch_size=1,
            classes=1,
            backend="monai",
            channels=len(image.channels),
        )
        try:
            check_work(WorkPlan(plan.grids, None, ()), self.limits)
        except WorkLimitError as exc:
            raise exc.for_path(path) from None

    def _check_label(self, path: Path, image: ChannelVolume, label: Volume) -> None:
        if label.shape != image.shape:
            raise MedicalImageError(
                path, f"label shape {label.shape} differs from image shape {image.shape}"
            )
        if not np.allclose(label.affine, image.affine, atol=1e-3):
            raise MedicalImageError(
                path, "label affine differs from the image affine (not the same grid)"
            )
        values = np.unique(label.array)
        unknown = np.setdiff1d(values, self.allowed_labels)
        if unknown.size:
            shown = [int(v) if float(v).is_integer() else float(v) for v in unknown[:10]]
            raise MedicalImageError(
                path,
                f"label values {shown} are not declared in dataset.json "
                f"(declared: {self.allowed_labels.tolist()})",
            )


class RegionMasksd(MapTransform):
    """Replace the ``(1, X, Y, Z)`` label map by ``(R, X, Y, Z)`` float region masks.

    The region-based training target, one channel per region (``Regions``), as MONAI's
    ``ConvertToMultiChannelBasedOnBratsClassesd`` builds it for BraTS's fixed labels. It
    runs after patch sampling, which needs the label map.
    """

    def __init__(self, regions: Regions) -> None:
        """Convert with ``regions``' label sets, in output-channel order."""
        super().__init__(keys=[LABEL])
        self.regions = regions

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        """The item with its label as region masks (the label's metadata kept)."""
        out = dict(data)
        label = out[LABEL]
        plain = label.as_tensor() if isinstance(label, MetaTensor) else torch.as_tensor(label)
        masks = torch.stack(
            [
                torch.isin(plain[0], torch.tensor(members, device=plain.device))
                for members in self.regions.labels
            ]
        ).to(torch.float32)
        out[LABEL] = MetaTensor(masks, meta=label.meta) if isinstance(label, MetaTensor) else masks
        return out


class ProjectNormalized(MapTransform):
    """A project's own numpy normaliser (``normalize: project``) in the MONAI chain.

    The very function the ONNX server calls, so training and serving cannot disagree;
    the image keeps its affine and metadata.
    """

    def __init__(self, normalizer: IntensityNormalizer) -> None:
        """Normalise ``IMAGE`` with ``normalizer``."""
        super().__init__(keys=[IMAGE])
        self.normalizer = normalizer

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        """The item with its image normalised; its shape must not change.

        Raises:
            ValueError: the normaliser returned another shape (naming both).
        """
        out = dict(data)
        image = out[IMAGE]
        array = image.detach().cpu().numpy() if isinstance(image, torch.Tensor) else image
        normalised = np.ascontiguousarray(self.normalizer(array), dtype=np.float32)
        if normalised.shape != array.shape:
            raise ValueError(
                f"the project's normalizer returned shape {normalised.shape} for an image of "
                f"shape {array.shape}; it must keep the shape"
            )
        tensor = torch.from_numpy(normalised)
        out[IMAGE] = (
            MetaTensor(tensor, meta=image.meta) if isinstance(image, MetaTensor) else tensor
        )
        return out


def intensity_normalisation(
    prep: PreprocessingSettings, normalizer: IntensityNormalizer | None = None
) -> MapTransform:
    """``preprocessing.normalize`` as a MONAI transform (numpy twin: ``medai.inference.normalize``).

    ``window`` maps the intensity window to [0, 1] and clips; ``zscore`` standardises each
    channel over its nonzero voxels, zero staying zero; ``project`` runs the project's
    normaliser.

    Raises:
        ValueError: ``project`` without a normaliser.
    """
    if prep.normalize == "project":
        if normalizer is None:
            raise ValueError("preprocessing.normalize is 'project' but no normalizer was given")
        return ProjectNormalized(normalizer)
    if prep.normalize == "zscore":
        return NormalizeIntensityd(keys=[IMAGE], nonzero=True, channel_wise=True)
    return ScaleIntensityRanged(
        keys=[IMAGE],
        a_min=prep.intensity_min,
        a_max=prep.intensity_max,
        b_min=0.0,
        b_max=1.0,
        clip=True,
    )


def geometry_and_intensity(
    prep: PreprocessingSettings,
    keys: Sequence[str],
    normalizer: IntensityNormalizer | None = None,
) -> list[MapTransform]:
    """Reorient, resample to the target spacing and normalise intensities (``normalize``).

    ``zscore`` and a project's normaliser run first, on the input grid, where "nonzero"
    is exactly the head:
    bilinear resampling leaves tiny nonzero values at its border that differ between
    MONAI and the numpy server (and between devices), and would move the statistics
    (nnU-Net also normalises before resampling). ``window`` is pointwise and stays last,
    as the one-channel projects have always run it. Labels are resampled with nearest
    neighbour so they stay integer.
    """
    modes = ["bilinear" if key == IMAGE else "nearest" for key in keys]
    geometry: list[MapTransform] = [
        # labels=None: axis codes come from the MetaTensor's space (RAS for our affines).
        Orientationd(keys=list(keys), axcodes=prep.orientation, labels=None),
        Spacingd(keys=list(keys), pixdim=prep.target_spacing, mode=modes),
    ]
    if prep.normalize in {"zscore", "project"}:
        return [intensity_normalisation(prep, normalizer), *geometry]
    return [*geometry, intensity_normalisation(prep)]


def training_transforms(
    prep: PreprocessingSettings,
    train: TrainSettings,
    allowed_labels: Sequence[int],
    limits: WorkLimits | None = None,
    *,
    channels: Sequence[str] | None = None,
    regions: Regions | None = None,
    normalizer: IntensityNormalizer | None = None,
) -> Compose:
    """Load, normalise and pad (cached by ``CacheDataset``), then sample random patches.

    ``limits`` (the project's ``limits`` section; None: the defaults) bounds the grid each
    case resamples to, checked from its header before the case is resampled; ``channels``
    (the dataset's channel names; None: any count) the channels each case must have;
    ``regions`` (None: label-based) turns each patch's label into region masks;
    ``normalizer`` is the project's (``normalize: project``).
    """
    keys = [IMAGE, LABEL]
    return Compose(
        [
            LoadCased(allowed_labels, prep, limits, channels),
            *geometry_and_intensity(prep, keys, normalizer),
            SpatialPadd(keys=keys, spatial_size=prep.patch_size),
            RandCropByPosNegLabeld(
                keys=keys,
                label_key=LABEL,
                spatial_size=prep.patch_size,
                pos=2,
                neg=1,
                num_samples=train.samples_per_volume,
                image_key=IMAGE,
                image_threshold=0,
            ),
            RandScaleIntensityd(keys=[IMAGE], factors=0.1, prob=0.5),
            RandShiftIntensityd(keys=[IMAGE], offsets=0.05, prob=0.5),
            *_region_target(regions),
        ]
    )


def validation_transforms(
    prep: PreprocessingSettings,
    allowed_labels: Sequence[int],
    limits: WorkLimits | None = None,
    *,
    channels: Sequence[str] | None = None,
    regions: Regions | None = None,
    normalizer: IntensityNormalizer | None = None,
) -> Compose:
    """Whole volumes, normalised like training, for sliding-window validation.

    With ``regions``, the label comes as region masks, the target validation scores.
    """
    keys = [IMAGE, LABEL]
    return Compose(
        [
            LoadCased(allowed_labels, prep, limits, channels),
            *geometry_and_intensity(prep, keys, normalizer),
            *_region_target(regions),
        ]
    )


def _region_target(regions: Regions | None) -> list[MapTransform]:
    return [] if regions is None else [RegionMasksd(regions)]


def inference_transforms(
    prep: PreprocessingSettings, normalizer: IntensityNormalizer | None = None
) -> Compose:
    """Image-only chain used by evaluation and prediction on an already loaded volume."""
    return Compose(geometry_and_intensity(prep, [IMAGE], normalizer))
