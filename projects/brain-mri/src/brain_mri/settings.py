"""The typed settings of brain-mri: the segmentation kit's sections, its data and network.

``PROJECT`` is what the kit's commands and server are given: brain-mri's data source
(an MSD / nnU-Net BraTS folder, else seeded brain-tumour phantoms, ``data/synthetic.py``)
and its own code at the kind's extension points: its network (SegResNet,
``models/brain_mri.py``, trained region-based), its z-score over the brain
(``utils/preprocessing.py``), its tumour-volume metric (``utils/metrics.py``) and its
evaluation figure (``utils/visualization.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Final, Literal

from pydantic import Field, model_validator

import brain_mri
from brain_mri.data.dataset import prepare_dataset
from brain_mri.data.synthetic import MAX_CASE_EDGE, MAX_NOISE, MIN_CASE_EDGE, Layout
from brain_mri.utils.metrics import METRICS
from brain_mri.utils.preprocessing import zscore_over_brain
from medai.config import Section
from medai.project import ProjectBinding
from medai.segmentation.project import SegmentationProject
from medai.segmentation.settings import DecathlonDataSettings, ModelSettings, SegmentationSettings

if TYPE_CHECKING:
    from collections.abc import Sequence

    from matplotlib.figure import Figure

    from medai.segmentation.networks import SegmentationNetwork
    from medai.segmentation.plots import OverlayCase
    from medai.segmentation.regions import Regions

MAX_SPACING_MM: Final = 10.0
"""Coarsest phantom voxel: beyond this a 'head' of 48 voxels would be half a metre wide."""


Edge = Annotated[int, Field(ge=1, le=MAX_CASE_EDGE)]
Millimetres = Annotated[float, Field(gt=0.0, le=MAX_SPACING_MM)]


class SyntheticDataSettings(Section):
    """The brain-tumour phantoms generated when no real dataset is configured."""

    n_cases: int = Field(default=20, ge=4, le=1000)
    shape: tuple[Edge, Edge, Edge] = Field(
        default=(64, 64, 64), description="Volume shape in voxels; the anatomy scales with it."
    )
    spacing: tuple[Millimetres, Millimetres, Millimetres] = Field(
        default=(2.0, 2.0, 2.0), description="Voxel size in mm, written into the affine."
    )
    layout: Layout = Field(
        default="msd", description="msd: one 4D NIfTI per case; nnunet: one file per channel."
    )
    noise: float = Field(
        default=0.04,
        ge=0.0,
        le=MAX_NOISE,
        description="Rician noise, as a fraction of each channel's white-matter signal.",
    )

    @model_validator(mode="after")
    def _anatomy_fits(self) -> SyntheticDataSettings:
        # Skull, cortex and the tumour's rim scale with the shortest edge: below the
        # minimum, the thinnest tumour region would shrink under a few voxels.
        if min(self.shape) < MIN_CASE_EDGE:
            raise ValueError(
                f"shape {list(self.shape)} must be at least {MIN_CASE_EDGE} voxels per axis "
                "for the head and every tumour region to fit"
            )
        return self


class DataSettings(DecathlonDataSettings):
    """An MSD / nnU-Net dataset folder, else the phantoms; relative paths start at the project."""

    synthetic: SyntheticDataSettings = Field(
        default_factory=SyntheticDataSettings,
        description="The phantom dataset, used without dataset_dir.",
    )


class SegResNetSettings(ModelSettings):
    """SegResNet's width and depth (``model_configs/brain-mri.yaml``).

    ``channels`` are the encoder levels' widths (each level doubles the first, as
    SegResNet builds them) and ``strides`` the stride-2 steps between them;
    ``blocks_down`` / ``blocks_up`` the residual blocks per encoder / decoder level,
    ``stem_stride`` a strided convolution in front, with a full-resolution head on the
    image and SegResNet's upsampled features behind (``models/brain_mri.py`` says why).
    """

    architecture: Literal["segresnet"] = "segresnet"  # type: ignore[assignment]
    channels: tuple[int, ...] = (8, 16, 32)
    strides: tuple[int, ...] = (2, 2)
    num_res_units: int = Field(
        default=0, ge=0, le=0, description="Unused by SegResNet: see blocks_down/blocks_up."
    )
    norm: Literal["batch", "instance"] = "instance"
    blocks_down: tuple[int, ...] = (1, 2, 2)
    blocks_up: tuple[int, ...] = (1, 1)
    stem_stride: Literal[1, 2] = Field(
        default=2,
        description=(
            "2: SegResNet at half resolution between a strided stem and a full-resolution "
            "head (CPU-sized); 1: SegResNet as published."
        ),
    )

    @property
    def size_divisor(self) -> int:
        """Sizes the network takes: the stem's stride times SegResNet's stride-2 steps."""
        return int(self.stem_stride * 2 ** len(self.strides))

    @model_validator(mode="after")
    def _segresnet_shape(self) -> SegResNetSettings:
        doubling = tuple(self.channels[0] * 2**level for level in range(len(self.channels)))
        if self.channels != doubling:
            raise ValueError(f"channels must double per level, e.g. {list(doubling)}")
        if any(stride != 2 for stride in self.strides):  # noqa: PLR2004 - SegResNet's step
            raise ValueError(f"SegResNet downsamples by 2 per level; strides {list(self.strides)}")
        if len(self.blocks_down) != len(self.channels) or len(self.blocks_up) != len(self.strides):
            raise ValueError(
                f"blocks_down needs one entry per level ({len(self.channels)}) and blocks_up "
                f"one per step ({len(self.strides)}); got {list(self.blocks_down)} and "
                f"{list(self.blocks_up)}"
            )
        return self


class BrainMriSettings(SegmentationSettings):
    """Everything brain-mri reads from its config: the kit's sections, its data, SegResNet."""

    data: DataSettings = Field(default_factory=DataSettings)
    model: SegResNetSettings = Field(default_factory=SegResNetSettings)


def _network(
    settings: BrainMriSettings, in_channels: int, out_channels: int
) -> SegmentationNetwork:
    from brain_mri.models.brain_mri import build_network  # noqa: PLC0415 - torch, MONAI

    return build_network(settings, in_channels, out_channels)


def _overlays(
    cases: Sequence[OverlayCase], regions: Regions | None, window: tuple[float, float] | None
) -> Figure:
    from brain_mri.utils.visualization import region_overlays  # noqa: PLC0415 - matplotlib

    return region_overlays(cases, regions, window)


BINDING = ProjectBinding(brain_mri.__file__, BrainMriSettings)
PROJECT = SegmentationProject(
    BINDING,
    prepare_dataset,
    "MRI",
    "whole tumour, tumour core and enhancing tumour",  # the template answer `target`
    # brain-mri's own code at the kind's extension points (medai.segmentation.extensions):
    network=_network,  # models/brain_mri.py: SegResNet
    normalizer=zscore_over_brain,  # utils/preprocessing.py: z-score over the brain mask
    metrics=METRICS,  # utils/metrics.py: tumour volume error beside Dice and HD95
    overlays=_overlays,  # utils/visualization.py: each region on its own contrast
)
