"""The configuration sections every segmentation project reads, and their common base.

A project subclasses ``SegmentationSettings`` and adds its ``data`` section (where its
cases come from); everything else (geometry and intensity window, the MONAI UNet,
optimisation, sliding window, evaluation) has one definition here. Importing this module
needs pydantic only, so a server or a failing command never pays for torch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from medai.config import InputSettings, ProjectSettings, Section
from medai.config.stored import stored_section
from medai.engine.settings import TrainingSettings
from medai.segmentation.regions import Regions

Triple = tuple[float, float, float]
IntTriple = tuple[int, int, int]


class PreprocessingSettings(Section):
    """Geometry and intensity normalisation, identical in training, evaluation and serving.

    ``normalize: window`` maps the intensity window ``[intensity_min, intensity_max]`` to
    ``[0, 1]`` and clips: Hounsfield units for CT. ``normalize: zscore`` standardises each
    channel over its nonzero voxels (MRI, whose units are arbitrary; the window is then
    only the display range). Both: ``medai.inference.normalize``. ``normalize: project``
    runs the project's own normaliser (``SegmentationProject.normalizer``, its
    ``utils/preprocessing.py``) on the input grid, before resampling.
    """

    orientation: str = Field(default="RAS", pattern=r"^[LR][AP][SI]$|^[LR][SI][AP]$|^[AP][LR][SI]$")
    target_spacing: Triple = (1.5, 1.5, 1.5)
    intensity_min: float = -200.0
    intensity_max: float = 300.0
    normalize: Literal["window", "zscore", "project"] = "window"
    patch_size: IntTriple = (64, 64, 64)

    @model_validator(mode="after")
    def _window_is_ordered(self) -> PreprocessingSettings:
        if self.intensity_min >= self.intensity_max:
            raise ValueError(
                f"intensity_min ({self.intensity_min}) must be below "
                f"intensity_max ({self.intensity_max})"
            )
        if min(self.target_spacing) <= 0:
            raise ValueError(f"target_spacing must be positive, got {self.target_spacing}")
        return self

    @property
    def window(self) -> tuple[float, float]:
        """``(intensity_min, intensity_max)``, e.g. for display."""
        return (self.intensity_min, self.intensity_max)


class ModelSettings(Section):
    """The MONAI residual UNet's shape (``model_configs/<project>.yaml``)."""

    architecture: Literal["unet"] = "unet"
    channels: tuple[int, ...] = (16, 32, 64, 128)
    strides: tuple[int, ...] = (2, 2, 2)
    num_res_units: int = Field(default=2, ge=0)
    norm: Literal["batch", "instance"] = "batch"
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0)

    @model_validator(mode="after")
    def _one_stride_between_levels(self) -> ModelSettings:
        if len(self.strides) != len(self.channels) - 1:
            raise ValueError(
                f"needs len(strides) == len(channels) - 1, got {len(self.strides)} strides "
                f"for {len(self.channels)} channels"
            )
        return self

    @property
    def size_divisor(self) -> int:
        """Spatial sizes the network accepts are multiples of this (the stride product)."""
        return math.prod(self.strides)


class TrainSettings(TrainingSettings):
    """The engine's ``train`` keys with segmentation's defaults, and patch sampling."""

    epochs: int = Field(default=60, ge=1)
    batch_size: int = Field(default=2, ge=1)
    samples_per_volume: int = Field(default=2, ge=1)
    learning_rate: float = Field(default=2e-3, gt=0)
    weight_decay: float = Field(default=1e-5, ge=0)
    val_every: int = Field(default=5, ge=1)
    cache: Literal["memory", "disk", "none"] = Field(
        default="memory",
        description=(
            "Where the preprocessed cases (loaded, resampled, normalised) are kept between "
            "epochs: 'memory' (cache_rate of them, MONAI CacheDataset), 'disk' (all, under "
            "cache_dir, MONAI PersistentDataset), 'none' (preprocessed again every epoch)."
        ),
    )
    cache_rate: float = Field(
        default=1.0,
        ge=0,
        le=1,
        description="With cache: memory, the fraction of training and validation cases held.",
    )
    cache_dir: Path = Field(
        default=Path("outputs/cache"),
        description="Folder of cache: disk (relative: to the project folder).",
    )


class InferenceSettings(Section):
    """Sliding-window inference over volumes larger than the patch."""

    sw_batch_size: int = Field(default=2, ge=1)
    overlap: float = Field(default=0.25, ge=0.0, lt=1.0)
    blend_mode: Literal["constant", "gaussian"] = "gaussian"


class EvaluateSettings(Section):
    """Evaluation report settings."""

    bootstrap_resamples: int = Field(default=2000, ge=100)
    confidence: float = Field(default=0.95, gt=0.5, lt=1.0)
    overlay_cases: int = Field(default=3, ge=0)
    output_dir: Path = Path("outputs/evaluation")


class DecathlonDataSettings(Section):
    """Where the cases come from: an MSD / nnU-Net folder, or the project's generated sample.

    Relative paths are resolved against the project folder. A project subclasses this to
    add the settings of its own sample-data generator.
    """

    root: Path = Field(
        default=Path("data"), description="Holds raw/ (generated data) and processed/ (splits)."
    )
    dataset_dir: Path | None = Field(
        default=None, description="MSD / nnU-Net folder; null = the generated sample data."
    )
    allow_synthetic: bool = Field(
        default=True, description="Fall back to generated data when no dataset_dir is set."
    )
    validation_fraction: float = Field(default=0.25, gt=0.0, lt=1.0)
    regions: dict[str, list[int]] | None = Field(
        default=None,
        description=(
            "Region name -> the labels it merges, one sigmoid output each (region-based "
            "training); null = dataset.json's regions, or label-based (softmax) training."
        ),
    )
    region_class_order: list[int] | None = Field(
        default=None,
        description="The label each region paints into a label map, in order (later wins).",
    )

    @model_validator(mode="after")
    def _regions_have_an_order(self) -> DecathlonDataSettings:
        if (self.regions is None) != (self.region_class_order is None):
            raise ValueError(
                "data.regions and data.region_class_order are set together (one painted "
                f"label per region), got regions={self.regions} and "
                f"region_class_order={self.region_class_order}"
            )
        if self.regions is not None:
            Regions.from_mapping(self.regions, self.region_class_order or [])
        return self


class SegmentationSettings(ProjectSettings):
    """Everything the segmentation kit reads; a project adds its ``data`` section."""

    input: InputSettings = InputSettings()
    preprocessing: PreprocessingSettings = PreprocessingSettings()
    model: ModelSettings = ModelSettings()
    train: TrainSettings = TrainSettings()
    inference: InferenceSettings = InferenceSettings()
    evaluate: EvaluateSettings = EvaluateSettings()

    @model_validator(mode="after")
    def _patch_fits_the_network(self) -> SegmentationSettings:
        factor = self.model.size_divisor
        bad = [s for s in self.preprocessing.patch_size if s % factor]
        if bad:
            raise ValueError(
                f"preprocessing.patch_size {self.preprocessing.patch_size} must be divisible by "
                f"{factor} (the product of model.strides {self.model.strides})"
            )
        return self


def preprocessing_of(
    stored: str | Mapping[str, Any] | None, settings: SegmentationSettings, where: str
) -> PreprocessingSettings:
    """The preprocessing a model was trained with (the config's when none was stored).

    Raises:
        ValueError: the stored settings do not validate (a model from older code);
            the message names ``where`` and says to train again.
    """
    return stored_section(stored, settings.preprocessing, where, section="preprocessing")
