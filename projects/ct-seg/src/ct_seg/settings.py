"""The typed configuration of ct-seg, resolved once per command from the config layers."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

import ct_seg
from medai.config import ProjectSettings, Section, load_settings
from medai.paths import find_repo_root, project_dir_of

MIN_PHANTOM_EDGE = 32
Triple = tuple[float, float, float]
IntTriple = tuple[int, int, int]


class SyntheticDataSettings(Section):
    """The phantom dataset generated when no real dataset is configured."""

    n_cases: int = Field(default=24, ge=4)
    shape: IntTriple = (64, 64, 64)
    shape_jitter: int = Field(
        default=8, ge=0, description="Case shapes vary by up to this many voxels."
    )
    spacing: Triple = (1.5, 1.5, 1.5)

    @model_validator(mode="after")
    def _anatomy_fits(self) -> SyntheticDataSettings:
        smallest = min(self.shape) - self.shape_jitter
        if smallest < MIN_PHANTOM_EDGE:
            raise ValueError(
                f"shape {self.shape} minus shape_jitter {self.shape_jitter} must leave at least "
                f"{MIN_PHANTOM_EDGE} voxels per axis for the phantom anatomy"
            )
        return self


class DataSettings(Section):
    """Where the data comes from and how it is split.

    Relative paths are resolved against the project folder.
    """

    root: Path = Field(
        default=Path("data"), description="Holds raw/ (synthetic data) and processed/ (splits)."
    )
    dataset_dir: Path | None = Field(
        default=None, description="MSD / nnU-Net folder; null = synthetic."
    )
    allow_synthetic: bool = Field(
        default=True, description="Fall back to generated phantoms when no dataset_dir is set."
    )
    validation_fraction: float = Field(default=0.25, gt=0.0, lt=1.0)
    synthetic: SyntheticDataSettings = SyntheticDataSettings()


class PreprocessingSettings(Section):
    """Geometry and intensity normalisation, identical in training, evaluation and serving."""

    orientation: str = Field(default="RAS", pattern=r"^[LR][AP][SI]$|^[LR][SI][AP]$|^[AP][LR][SI]$")
    target_spacing: Triple = (1.5, 1.5, 1.5)
    hu_min: float = -200.0
    hu_max: float = 300.0
    patch_size: IntTriple = (64, 64, 64)

    @model_validator(mode="after")
    def _window_is_ordered(self) -> PreprocessingSettings:
        if self.hu_min >= self.hu_max:
            raise ValueError(f"hu_min ({self.hu_min}) must be below hu_max ({self.hu_max})")
        if min(self.target_spacing) <= 0:
            raise ValueError(f"target_spacing must be positive, got {self.target_spacing}")
        return self


class ModelSettings(Section):
    """The MONAI UNet's shape (``model_configs/ct-seg.yaml``)."""

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


class TrainSettings(Section):
    """Optimisation; every hyper-parameter lives here, none in scripts."""

    epochs: int = Field(default=60, ge=1)
    batch_size: int = Field(default=2, ge=1)
    samples_per_volume: int = Field(default=2, ge=1)
    learning_rate: float = Field(default=2e-3, gt=0)
    weight_decay: float = Field(default=1e-5, ge=0)
    val_every: int = Field(default=5, ge=1)
    cache_rate: float = Field(default=1.0, ge=0, le=1)
    num_workers: int = Field(default=0, ge=0)


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


class CtSegSettings(ProjectSettings):
    """Everything ct-seg reads from configuration."""

    data: DataSettings = DataSettings()
    preprocessing: PreprocessingSettings = PreprocessingSettings()
    model: ModelSettings = ModelSettings()
    train: TrainSettings = TrainSettings()
    inference: InferenceSettings = InferenceSettings()
    evaluate: EvaluateSettings = EvaluateSettings()

    @model_validator(mode="after")
    def _patch_fits_the_network(self) -> CtSegSettings:
        factor = math.prod(self.model.strides)
        bad = [s for s in self.preprocessing.patch_size if s % factor]
        if bad:
            raise ValueError(
                f"preprocessing.patch_size {self.preprocessing.patch_size} must be divisible by "
                f"{factor} (the product of model.strides {self.model.strides})"
            )
        return self


@cache
def project_dir() -> Path:
    """``projects/ct-seg``, found from the installed package."""
    return project_dir_of(ct_seg.__file__)


@cache
def repo_root() -> Path:
    """The monorepo root (holds ``configs/`` and the embedded MLflow store)."""
    return find_repo_root(project_dir())


def resolve_path(path: Path) -> Path:
    """A configured path; relative ones start at the project folder, not the working directory."""
    return path if path.is_absolute() else project_dir() / path


def load(overrides: Sequence[str] = (), environ: Mapping[str, str] | None = None) -> CtSegSettings:
    """Resolve ct-seg's settings; raises ``medai.config.ConfigError`` with file and key."""
    return load_settings(
        CtSegSettings, project_dir(), repo_root(), overrides=overrides, environ=environ
    )
