"""The typed settings of brain-mri: the segmentation kit's sections plus its data.

``PROJECT`` is what the kit's commands and server are given. Without a configured
dataset, brain-mri trains on seeded brain-tumour phantoms (``data/synthetic.py``).
"""

from __future__ import annotations

from typing import Annotated, Final

from pydantic import Field, model_validator

import brain_mri
from brain_mri.data.dataset import prepare_dataset
from brain_mri.data.synthetic import MAX_CASE_EDGE, MAX_NOISE, MIN_CASE_EDGE, Layout
from medai.config import Section
from medai.project import ProjectBinding
from medai.segmentation.project import SegmentationProject
from medai.segmentation.settings import DecathlonDataSettings, SegmentationSettings

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


class BrainMriSettings(SegmentationSettings):
    """Everything brain-mri reads from its config: the kit's sections, its data."""

    data: DataSettings = Field(default_factory=DataSettings)


BINDING = ProjectBinding(brain_mri.__file__, BrainMriSettings)
PROJECT = SegmentationProject(BINDING, prepare_dataset, "MRI", "the labelled structures")
