"""The typed settings of brain-mri: the segmentation kit's sections plus its data.

``PROJECT`` is what the kit's commands and server are given. Without a configured
dataset, brain-mri trains on generated spheres (``data/dataset.py``).
"""

from __future__ import annotations

from pydantic import Field, model_validator

import brain_mri
from brain_mri.data.dataset import prepare_dataset
from medai.config import Section
from medai.project import ProjectBinding
from medai.segmentation.project import SegmentationProject
from medai.segmentation.settings import DecathlonDataSettings, SegmentationSettings


class SphereSettings(Section):
    """The sample volumes: noisy bright spheres (label 1) in cubes of ``edge`` voxels."""

    n_cases: int = Field(default=12, ge=4)
    edge: int = Field(default=48, ge=16, description="Cube edge in voxels.")
    spacing: float = Field(default=1.5, gt=0, description="Isotropic voxel size in mm.")
    spheres: int = Field(default=4, ge=1, description="Spheres drawn per volume.")
    radius: tuple[int, int] = Field(
        default=(4, 10), description="Smallest and largest sphere radius in voxels."
    )
    noise: float = Field(
        default=0.5, ge=0.0, le=1.0, description="Background noise, up to this intensity."
    )

    @model_validator(mode="after")
    def _spheres_fit_the_cube(self) -> SphereSettings:
        smallest, largest = self.radius
        if not 1 <= smallest < largest or 2 * largest >= self.edge:
            raise ValueError(
                f"radius {list(self.radius)} needs 1 <= smallest < largest < edge / 2 "
                f"(edge {self.edge})"
            )
        return self


class DataSettings(DecathlonDataSettings):
    """An MSD / nnU-Net dataset folder, else the spheres; relative paths start at the project."""

    synthetic: SphereSettings = Field(
        default_factory=SphereSettings, description="The sample data, used without dataset_dir."
    )


class BrainMriSettings(SegmentationSettings):
    """Everything brain-mri reads from its config: the kit's sections, its data."""

    data: DataSettings = Field(default_factory=DataSettings)


BINDING = ProjectBinding(brain_mri.__file__, BrainMriSettings)
PROJECT = SegmentationProject(BINDING, prepare_dataset, "MRI", "the labelled structures")
