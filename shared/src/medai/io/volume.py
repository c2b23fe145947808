"""A 3D image with its voxel-to-world geometry, the common currency of the IO readers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

_AFFINE_SHAPE = (4, 4)
_NDIM = 3


@dataclass(frozen=True, eq=False)
class Volume:
    """A 3D voxel array and the affine that places it in patient space.

    Whatever the source format, the geometry follows the NIfTI convention so that downstream
    code (resampling, writing masks back) never has to know whether the scan came from DICOM.
    Equality is identity: comparing arrays element-wise is the caller's decision.

    Attributes:
        array: 3D voxel data indexed (i, j, k) as nibabel gives it.
        affine: 4x4 float64 matrix mapping voxel indices to RAS+ millimetres.
    """

    array: NDArray[Any]
    affine: NDArray[np.float64]

    def __post_init__(self) -> None:
        """Reject geometry that would silently corrupt every later step.

        Raises:
            ValueError: If the array is not 3D or the affine is not a finite 4x4 matrix.
        """
        if self.array.ndim != _NDIM:
            raise ValueError(f"Volume array must be 3D, got shape {self.array.shape}")
        affine = np.asarray(self.affine, dtype=np.float64)
        if affine.shape != _AFFINE_SHAPE:
            raise ValueError(f"Volume affine must be 4x4, got shape {affine.shape}")
        if not np.isfinite(affine).all():
            raise ValueError("Volume affine contains NaN or infinite values")
        # Frozen dataclass: normalising the dtype needs object.__setattr__.
        object.__setattr__(self, "affine", affine)

    @property
    def spacing(self) -> tuple[float, float, float]:
        """Voxel size in millimetres along i, j, k; valid for oblique affines too."""
        i, j, k = np.linalg.norm(self.affine[:3, :3], axis=0)
        return float(i), float(j), float(k)

    @property
    def shape(self) -> tuple[int, int, int]:
        """Number of voxels along i, j, k."""
        i, j, k = self.array.shape
        return int(i), int(j), int(k)
