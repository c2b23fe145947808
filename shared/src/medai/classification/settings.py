"""The configuration sections every 2D classification project reads, and their common base.

A project subclasses ``ClassificationSettings`` and adds its ``data`` section (usually
``RadiographDataSettings`` plus the settings of its own sample-data generator);
preprocessing, the network, optimisation, evaluation and the accepted radiographs have
one definition here. Importing this module needs pydantic only, so a server or a
failing command never pays for torch.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator, model_validator

from medai.config import ConfigError, InputSettings, ProjectSettings, Section
from medai.config.stored import stored_section
from medai.engine.settings import TrainingSettings

if TYPE_CHECKING:
    from medai.io.radiograph import RadiographLimits

RADIOGRAPH_MODALITIES = ("CR", "DX", "RG")
"""The default of ``radiograph.allowed_modalities``: ``medai.io.RADIOGRAPH_MODALITIES``.

Spelled out rather than imported so that reading a config never imports pydicom.
"""
_STEM_STRIDE = 4
_MIN_FEATURE_MAP = 2


class PreprocessingSettings(Section):
    """What the network sees, identical in training, evaluation and serving.

    Stored with every registered version: a served model resizes to the size it was
    trained at, whatever today's config says. ``image_step: project`` runs the project's
    own step (``ClassificationProject.image_step``, its ``utils/preprocessing.py``) on
    every resized image, before ``standardize``; a model trained with it is served with
    it, and a server without it refuses to load that model.
    """

    image_size: int = Field(
        default=224, ge=16, le=2048, description="Side of the square network input, in pixels."
    )
    standardize: bool = Field(
        default=False, description="Zero mean, unit standard deviation per image after resizing."
    )
    image_step: Literal["none", "project"] = Field(
        default="none",
        description=(
            "'project': the project's own image step (utils/preprocessing.py) on every "
            "resized image, before standardize; 'none': the kind's resize alone."
        ),
    )


class ModelSettings(Section):
    """The ``CamClassifier`` (a small MONAI DenseNet with a CAM head), from ``model_configs``."""

    architecture: Literal["densenet_cam"] = "densenet_cam"
    init_features: int = Field(default=16, ge=1)
    growth_rate: int = Field(default=12, ge=1)
    block_config: tuple[int, ...] = Field(default=(4, 4, 4), min_length=1)
    bn_size: int = Field(default=4, ge=1)
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0)

    @field_validator("block_config")
    @classmethod
    def _layers_per_block(cls, blocks: tuple[int, ...]) -> tuple[int, ...]:
        if min(blocks) < 1:
            raise ValueError(f"every dense block needs at least 1 layer, got {list(blocks)}")
        return blocks

    @property
    def downsampling(self) -> int:
        """Input side / feature-map side: the stem's 4, halved again after every block but one."""
        return int(_STEM_STRIDE * 2 ** (len(self.block_config) - 1))


class TrainSettings(TrainingSettings):
    """The engine's ``train`` keys with classification's defaults, augmentation and threads."""

    epochs: int = Field(default=30, ge=1)
    batch_size: int = Field(default=32, ge=1)
    augment: bool = Field(default=True, description="Random affine, contrast and noise (no flips).")
    torch_threads: int | None = Field(
        default=None,
        ge=1,
        description=(
            "CPU threads of torch while training; null = torch's default (every core). "
            "Small images train faster on one thread, and keep that speed on a busy machine."
        ),
    )
    read_threads: int = Field(
        default=4,
        ge=1,
        description="Threads that check every image (read, resize, drop) before training.",
    )
    cache: Literal["none", "disk"] = Field(
        default="none",
        description=(
            "'none': every epoch reads and resizes each image from its file; 'disk': the "
            "resized images are kept under cache_dir (named by hashes of the preprocessing "
            "and of each file's bytes) and read from there."
        ),
    )
    cache_dir: Path = Field(
        default=Path("outputs/cache"),
        description="Folder of the disk cache (relative: to the project folder).",
    )


class EvaluateSettings(Section):
    """Evaluation report settings, and the operating point registered with a trained model."""

    thresholds: float | dict[str, float] = Field(
        default=0.5,
        description=(
            "Probability at or above which a finding is called present: one for every "
            "label, or one per label name. Training registers it with the model (serving "
            "uses it); evaluation reports sensitivity and specificity at it."
        ),
    )
    n_bins: int = Field(default=10, ge=2, le=100, description="Reliability-diagram bins.")
    bootstrap_resamples: int = Field(default=2000, ge=100)
    confidence: float = Field(default=0.95, gt=0.5, lt=1.0)
    cam_cases: int = Field(default=8, ge=0, le=64, description="Images in the Grad-CAM figure.")
    output_dir: Path = Path("outputs/evaluation")

    @field_validator("thresholds")
    @classmethod
    def _probabilities(cls, value: float | dict[str, float]) -> float | dict[str, float]:
        values = value.values() if isinstance(value, dict) else [value]
        for threshold in values:
            if not 0.0 <= threshold <= 1.0:
                raise ValueError(f"thresholds must be probabilities in [0, 1], got {threshold}")
        return value

    def thresholds_for(self, labels: Sequence[str]) -> dict[str, float]:
        """The threshold of every label, checked against the model's or dataset's labels.

        Raises:
            ConfigError: a per-label mapping that misses a label or names an unknown one.
        """
        if not isinstance(self.thresholds, dict):
            return dict.fromkeys(labels, float(self.thresholds))
        missing = [label for label in labels if label not in self.thresholds]
        unknown = sorted(set(self.thresholds) - set(labels))
        if missing or unknown:
            raise ConfigError(
                "evaluate.thresholds",
                None,
                f"must name every label once ({', '.join(labels)}): "
                f"missing {missing}, unknown {unknown}",
            )
        return {label: float(self.thresholds[label]) for label in labels}


class RadiographSettings(InputSettings):
    """Which images are accepted, in training, evaluation, prediction and serving alike.

    Every limit is checked from the header, before pixel data is decoded. The modality,
    image-type and body-part keys are the kind-neutral ``InputSettings``; here at least
    one modality must be named (projection radiographs by default).
    """

    min_size: int = Field(default=32, ge=1, description="Fewest pixels on each side.")
    max_pixels: int = Field(default=4096 * 4096, ge=1, description="Most rows x columns.")
    allowed_modalities: tuple[str, ...] = Field(
        default=RADIOGRAPH_MODALITIES,
        min_length=1,
        description="DICOM Modality values accepted (projection radiographs).",
    )

    @model_validator(mode="after")
    def _satisfiable(self) -> RadiographSettings:
        if self.max_pixels < self.min_size**2:
            raise ValueError(
                f"max_pixels ({self.max_pixels}) must be at least min_size**2 ({self.min_size**2})"
            )
        return self

    def limits(self) -> RadiographLimits:
        """The reader's limits (imports pydicom and Pillow, hence not at module level)."""
        from medai.io.radiograph import RadiographLimits  # noqa: PLC0415 - keep config light

        return RadiographLimits(
            min_size=self.min_size,
            max_pixels=self.max_pixels,
            allowed_modalities=self.allowed_modalities,
            refused_image_types=self.refused_image_types,
            allowed_body_parts=self.allowed_body_parts,
        )


class CsvSourceSettings(Section):
    """A label CSV in the CheXpert or NIH ChestX-ray14 layout and the folder of its images."""

    path: Path | None = Field(default=None, description="The label CSV (required for csv).")
    image_root: Path | None = Field(
        default=None,
        description="Folder the CSV's image paths are relative to; null = the CSV's folder.",
    )
    layout: Literal["chexpert", "nih"] = "chexpert"
    uncertain: Literal["zeros", "ones", "ignore"] = Field(
        default="ignore",
        description="What a CheXpert -1 becomes: 0, 1, or unknown (left out of loss and metrics).",
    )


class MedmnistSourceSettings(Section):
    """A binary or multi-label grayscale MedMNIST ``.npz`` (e.g. ChestMNIST)."""

    path: Path | None = Field(default=None, description="The .npz file (required for medmnist).")


class RadiographDataSettings(Section):
    """Where the labelled radiographs come from; relative paths start at the project folder.

    ``synthetic`` is the project's own generated sample (CheXpert layout), ``csv`` a real
    dataset's label CSV, ``medmnist`` a MedMNIST file with its official split. A project
    subclasses this to give ``labels`` its default and to add its generator's settings.
    """

    source: Literal["synthetic", "csv", "medmnist"] = "synthetic"
    labels: tuple[str, ...] = Field(
        min_length=1, description="Label names: CSV columns (CheXpert) or finding names (NIH)."
    )
    root: Path = Field(
        default=Path("data"), description="Holds raw/ (generated data) and processed/ (splits)."
    )
    allow_synthetic: bool = Field(
        default=True, description="Whether source: synthetic may be used (false in production)."
    )
    validation_fraction: float = Field(
        default=0.2, gt=0.0, lt=1.0, description="Fraction of patients held out for validation."
    )
    csv: CsvSourceSettings = CsvSourceSettings()
    medmnist: MedmnistSourceSettings = MedmnistSourceSettings()

    @field_validator("labels")
    @classmethod
    def _distinct_names(cls, labels: tuple[str, ...]) -> tuple[str, ...]:
        seen: dict[str, str] = {}
        for label in labels:
            key = re.sub(r"[^0-9a-z]+", "_", label.lower()).strip("_")
            if not key:
                raise ValueError(f"label {label!r} needs a letter or digit (it names metrics)")
            if key in seen:
                raise ValueError(
                    f"labels {seen[key]!r} and {label!r} name the same metrics ({key}); "
                    "give each finding its own name"
                )
            seen[key] = label
        return labels


class ClassificationSettings(ProjectSettings):
    """Everything the classification kit reads; a project adds its ``data`` section."""

    preprocessing: PreprocessingSettings = PreprocessingSettings()
    model: ModelSettings = ModelSettings()
    train: TrainSettings = TrainSettings()
    evaluate: EvaluateSettings = EvaluateSettings()
    radiograph: RadiographSettings = RadiographSettings()

    @model_validator(mode="after")
    def _image_fits_the_network(self) -> ClassificationSettings:
        side = self.preprocessing.image_size // self.model.downsampling
        if side < _MIN_FEATURE_MAP:
            raise ValueError(
                f"preprocessing.image_size {self.preprocessing.image_size} gives {side}x{side} "
                f"feature maps with model.block_config {list(self.model.block_config)} "
                f"(downsampling {self.model.downsampling}); use an image size of at least "
                f"{_MIN_FEATURE_MAP * self.model.downsampling} or fewer dense blocks"
            )
        return self


def preprocessing_of(
    stored: str | Mapping[str, Any] | None, settings: ClassificationSettings, where: str
) -> PreprocessingSettings:
    """The preprocessing a model was trained with (the config's when none was stored).

    Raises:
        ValueError: the stored settings do not validate (a model from older code); the
            message names ``where`` and says to train again.
    """
    return stored_section(stored, settings.preprocessing, where, section="preprocessing")
