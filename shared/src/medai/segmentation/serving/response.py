"""Response bodies of the segmentation predict route: the mask as NIfTI, or a JSON summary.

The summary lists every labelled structure and, for a region model (BraTS-like nested
regions), every region too: a region is the union of its labels in the painted mask, so
the whole tumour's volume is what a clinician reads, not the oedema's alone.
"""

from __future__ import annotations

import gzip
from collections.abc import Mapping
from typing import Any

import nibabel as nib
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from medai.io import ChannelVolume, Volume
from medai.segmentation.measures import label_volumes_ml
from medai.segmentation.regions import Regions, region_masks

NIFTI_GZ_MEDIA_TYPE = "application/gzip"
# nibabel is untyped; the Any enters at this one boundary.
_Nifti1Image: Any = nib.Nifti1Image


class BoundingBox(BaseModel):
    """Inclusive voxel index range of a structure, per axis (i, j, k) of the input grid."""

    min_index: tuple[int, int, int]
    max_index: tuple[int, int, int]


class StructureSummary(BaseModel):
    """One labelled structure in the predicted mask."""

    label: int = Field(examples=[1])
    name: str = Field(examples=["organ"])
    voxels: int = Field(ge=0, examples=[9789])
    volume_ml: float = Field(ge=0, examples=[33.04])
    bounding_box: BoundingBox | None = Field(description="null when the structure is absent")


class RegionSummary(BaseModel):
    """One nested region of a region model: the voxels carrying any of its labels."""

    name: str = Field(examples=["tumour_core"])
    labels: list[int] = Field(examples=[[2, 3]])
    voxels: int = Field(ge=0, examples=[5120])
    volume_ml: float = Field(ge=0, examples=[5.12])
    bounding_box: BoundingBox | None = Field(description="null when the region is absent")


class SegmentationSummary(BaseModel):
    """``?format=json``: what was found, without the voxels."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "model_name": "ct-seg",
                    "model_version": "3",
                    "shape": [57, 69, 67],
                    "spacing_mm": [1.5, 1.5, 1.5],
                    "structures": [
                        {
                            "label": 1,
                            "name": "organ",
                            "voxels": 9789,
                            "volume_ml": 33.04,
                            "bounding_box": {"min_index": [10, 20, 15], "max_index": [34, 45, 50]},
                        }
                    ],
                    "regions": None,
                }
            ]
        }
    )

    model_name: str
    model_version: str
    shape: tuple[int, int, int]
    spacing_mm: tuple[float, float, float]
    structures: list[StructureSummary]
    regions: list[RegionSummary] | None = Field(
        default=None, description="A region model's nested regions; null for other models."
    )


def _bounding_box(mask: np.ndarray) -> BoundingBox | None:
    indices = np.argwhere(mask)
    if indices.size == 0:
        return None
    low, high = indices.min(axis=0), indices.max(axis=0)
    return BoundingBox(
        min_index=(int(low[0]), int(low[1]), int(low[2])),
        max_index=(int(high[0]), int(high[1]), int(high[2])),
    )


def summarize(
    mask: np.ndarray,
    volume: Volume | ChannelVolume,
    labels: Mapping[int, str],
    model_name: str,
    version: str,
    *,
    regions: Regions | None = None,
) -> SegmentationSummary:
    """Volume in ml and bounding box of every foreground label, and of every region."""
    volumes = label_volumes_ml(mask, volume.spacing, labels)
    structures = [
        StructureSummary(
            label=value,
            name=name,
            voxels=int(np.count_nonzero(mask == value)),
            volume_ml=round(volumes[name], 3),
            bounding_box=_bounding_box(mask == value),
        )
        for value, name in sorted(labels.items())
        if value != 0
    ]
    return SegmentationSummary(
        model_name=model_name,
        model_version=version,
        shape=volume.shape,
        spacing_mm=volume.spacing,
        structures=structures,
        regions=None if regions is None else _region_summaries(mask, volume.spacing, regions),
    )


def _region_summaries(
    mask: np.ndarray, spacing: tuple[float, float, float], regions: Regions
) -> list[RegionSummary]:
    voxel_ml = float(np.prod(spacing)) / 1000.0
    summaries = []
    for name, members, inside in zip(
        regions.names, regions.labels, region_masks(mask, regions), strict=True
    ):
        voxels = int(np.count_nonzero(inside))
        summaries.append(
            RegionSummary(
                name=name,
                labels=list(members),
                voxels=voxels,
                volume_ml=round(voxels * voxel_ml, 3),
                bounding_box=_bounding_box(inside),
            )
        )
    return summaries


def nifti_gz_bytes(mask: np.ndarray, affine: np.ndarray) -> bytes:
    """The mask as gzipped NIfTI with the input's affine (qform and sform), in memory.

    Compression level 1: masks compress well at any level, and level 9 costs more time
    than the network on small volumes.
    """
    image = _Nifti1Image(mask.astype(np.uint8), affine)
    image.set_qform(affine, code=1)
    image.set_sform(affine, code=1)
    return gzip.compress(image.to_bytes(), compresslevel=1)
