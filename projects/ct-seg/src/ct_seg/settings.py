"""The typed configuration of ct-seg, resolved once per command from the config layers.

Everything but the data section is the segmentation kit's (``medai.segmentation``);
``PROJECT`` is what the kit's commands and server are given.
"""

from __future__ import annotations

from pydantic import Field, model_validator

import ct_seg
from ct_seg.data.dataset import prepare_dataset
from medai.config import Section
from medai.project import ProjectBinding
from medai.segmentation.project import SegmentationProject
from medai.segmentation.settings import DecathlonDataSettings, SegmentationSettings

MIN_PHANTOM_EDGE = 32


class SyntheticDataSettings(Section):
    """The CT phantom dataset generated when no real dataset is configured."""

    n_cases: int = Field(default=24, ge=4)
    shape: tuple[int, int, int] = (64, 64, 64)
    shape_jitter: int = Field(
        default=8, ge=0, description="Case shapes vary by up to this many voxels."
    )
    spacing: tuple[float, float, float] = (1.5, 1.5, 1.5)

    @model_validator(mode="after")
    def _anatomy_fits(self) -> SyntheticDataSettings:
        smallest = min(self.shape) - self.shape_jitter
        if smallest < MIN_PHANTOM_EDGE:
            raise ValueError(
                f"shape {self.shape} minus shape_jitter {self.shape_jitter} must leave at least "
                f"{MIN_PHANTOM_EDGE} voxels per axis for the phantom anatomy"
            )
        return self


class DataSettings(DecathlonDataSettings):
    """An MSD / nnU-Net CT dataset, or the phantoms; relative paths start at the project."""

    synthetic: SyntheticDataSettings = SyntheticDataSettings()


class CtSegSettings(SegmentationSettings):
    """Everything ct-seg reads from configuration."""

    data: DataSettings = DataSettings()


BINDING = ProjectBinding(ct_seg.__file__, CtSegSettings)
PROJECT = SegmentationProject(BINDING, prepare_dataset, "CT", "an organ and its lesions")
