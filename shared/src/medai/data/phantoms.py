"""Seeded drawing tools for synthetic 3D phantoms: voxel grids, implicit shapes, random fields.

Every project that trains without patient data draws its phantoms from the same few
pieces, whatever the modality: an ellipsoid in some pose, a smooth random field that
deforms it (or modulates intensities like a bias field), band-limited noise, a mask
cleaned to one component, a box to work in. They live here once, so a fix reaches every
generator and two generators never drift apart in how they draw.

Shapes are level sets (< 1 inside) rather than masks, so that callers union them with
``np.minimum`` and deform them by adding a smooth field before thresholding, into
irregular, organ-like outlines.

Everything is numpy (and scipy.ndimage) on float32, driven only by the
``np.random.Generator`` passed in: the same generator state draws the same voxels,
bit for bit, which is what makes a phantom case reproducible from its seed. Changing
how any function here consumes the generator changes every project's data, so it
needs each generator's version bumped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
from scipy import ndimage

__all__ = [
    "BoolArray",
    "FloatArray",
    "Grid",
    "bounding_box",
    "check_geometry",
    "ellipsoid_level",
    "largest_component",
    "phantom_affine",
    "rotation",
    "smooth_field",
    "texture",
]

FloatArray = npt.NDArray[np.float32]
BoolArray = npt.NDArray[np.bool_]

_AXES: Final = 3
_FOURIER_WAVES: Final = 6
_TWO_PI: Final = np.float32(2.0 * np.pi)


@dataclass(frozen=True)
class Grid:
    """Voxel-centre coordinates as open (broadcastable) axes of a volume or of a box in it."""

    shape: tuple[int, int, int]
    i: FloatArray
    j: FloatArray
    k: FloatArray

    @classmethod
    def of(cls, shape: tuple[int, int, int]) -> Grid:
        """Axes of a whole volume; broadcasting them avoids three full index arrays."""
        return cls.over((slice(0, shape[0]), slice(0, shape[1]), slice(0, shape[2])))

    @classmethod
    def over(cls, box: tuple[slice, slice, slice]) -> Grid:
        """Axes of a sub-box that keep the full volume's coordinates.

        Drawing a small structure in a box around it (rather than over the whole
        volume) makes placing it several times faster.
        """
        i, j, k = (np.arange(axis.start, axis.stop, dtype=np.float32) for axis in box)
        return cls(
            shape=(i.size, j.size, k.size),
            i=i.reshape(-1, 1, 1),
            j=j.reshape(1, -1, 1),
            k=k.reshape(1, 1, -1),
        )


def check_geometry(shape: Sequence[int], spacing: Sequence[float]) -> None:
    """Refuse a volume geometry that no phantom (and no affine) can be drawn on.

    A generator's spec calls this first, before its own limits, so that every generator
    refuses a 2D shape or a zero, negative or NaN voxel size the same way.

    Args:
        shape: Volume shape in voxels (i, j, k).
        spacing: Voxel size in millimetres.

    Raises:
        ValueError: If either has not 3 entries, or a voxel size is not a positive
            finite number of millimetres.
    """
    if len(shape) != _AXES or len(spacing) != _AXES:
        raise ValueError(
            f"shape and spacing must have 3 entries, got shape={list(shape)}, "
            f"spacing={list(spacing)}"
        )
    if not all(np.isfinite(size) and size > 0 for size in spacing):
        raise ValueError(f"spacing must be positive millimetres, got {list(spacing)}")


def phantom_affine(
    shape: tuple[int, int, int], spacing: tuple[float, float, float]
) -> npt.NDArray[np.float64]:
    """Return the RAS+ affine ``diag(spacing)`` whose origin centres the volume on (0, 0, 0).

    Centring keeps world coordinates comparable between cases of different shapes, like
    scans reconstructed around the table's isocentre.

    Args:
        shape: Volume shape in voxels.
        spacing: Voxel size in millimetres.

    Returns:
        The 4x4 voxel-to-world matrix.
    """
    affine = np.diag([*spacing, 1.0]).astype(np.float64)
    affine[:3, 3] = -(np.asarray(shape, dtype=np.float64) - 1.0) / 2.0 * np.asarray(spacing)
    return affine


def rotation(
    rng: np.random.Generator, max_degrees: tuple[float, float, float]
) -> npt.NDArray[np.float32]:
    """Draw a rotation from Euler angles bounded per axis, so structures keep a plausible pose.

    Args:
        rng: Source of the three angles (drawn i, j, k in that order).
        max_degrees: Each angle is uniform in ``[-limit, limit]`` degrees about its axis.

    Returns:
        The 3x3 rotation matrix ``R_k @ R_j @ R_i``; its columns are the rotated axes.
    """
    ai, aj, ak = (float(np.deg2rad(rng.uniform(-limit, limit))) for limit in max_degrees)
    ci, si, cj, sj, ck, sk = np.cos(ai), np.sin(ai), np.cos(aj), np.sin(aj), np.cos(ak), np.sin(ak)
    about_i = np.array([[1.0, 0.0, 0.0], [0.0, ci, -si], [0.0, si, ci]])
    about_j = np.array([[cj, 0.0, sj], [0.0, 1.0, 0.0], [-sj, 0.0, cj]])
    about_k = np.array([[ck, -sk, 0.0], [sk, ck, 0.0], [0.0, 0.0, 1.0]])
    matrix: npt.NDArray[np.float64] = about_k @ about_j @ about_i
    return matrix.astype(np.float32)


def ellipsoid_level(
    grid: Grid,
    centre: npt.ArrayLike,
    semi_axes: npt.ArrayLike,
    turn: npt.NDArray[np.float32] | None = None,
) -> FloatArray:
    """Return the implicit function of an ellipsoid: < 1 inside, 1 on its surface.

    Args:
        grid: Where to evaluate it (a whole volume or a box in it).
        centre: Centre in voxel coordinates (i, j, k).
        semi_axes: Semi-axis lengths in voxels, along the columns of ``turn``.
        turn: Rotation whose columns are the ellipsoid's principal axes (default: the
            voxel axes), e.g. from ``rotation``.

    Returns:
        ``sum((local / semi_axes) ** 2)`` over the grid, float32.
    """
    rot = np.eye(3, dtype=np.float32) if turn is None else turn
    c = np.asarray(centre, dtype=np.float32)
    r = np.asarray(semi_axes, dtype=np.float32)
    di, dj, dk = grid.i - c[0], grid.j - c[1], grid.k - c[2]
    level = np.zeros(grid.shape, dtype=np.float32)
    for axis in range(3):  # one vectorised pass per principal axis
        local = rot[0, axis] * di + rot[1, axis] * dj + rot[2, axis] * dk
        level += (local / r[axis]) ** 2
    return level


def smooth_field(grid: Grid, rng: np.random.Generator, cycles_per_fov: float) -> FloatArray:
    """Draw a smooth random field of about unit variance from a few random cosines.

    Args:
        grid: Where to draw it; frequencies are relative to this grid's extent.
        rng: Source of the waves' frequencies and phases.
        cycles_per_fov: Bound on each axis' frequency in cycles per field of view:
            about 1 gives bias-field-like gradients, 1.5 to 2.5 the bulges and lobes of
            an organ or tumour outline; larger values grow jagged.

    Returns:
        The float32 field over ``grid``.
    """
    field = np.zeros(grid.shape, dtype=np.float32)
    extent = np.asarray(grid.shape, dtype=np.float32)
    for _ in range(_FOURIER_WAVES):
        freq = (rng.uniform(-cycles_per_fov, cycles_per_fov, size=3) / extent).astype(np.float32)
        phase = np.float32(rng.uniform(0.0, 2.0 * np.pi))
        field += np.cos(_TWO_PI * (freq[0] * grid.i + freq[1] * grid.j + freq[2] * grid.k) + phase)
    return field / np.float32(np.sqrt(_FOURIER_WAVES / 2.0))


def texture(shape: tuple[int, int, int], rng: np.random.Generator, sigma: float) -> FloatArray:
    """Draw band-limited noise of unit variance: tissue texture, or where fine detail falls.

    Args:
        shape: Volume shape in voxels.
        rng: Source of the white noise that is smoothed.
        sigma: Gaussian smoothing in voxels, i.e. the grain of the texture.

    Returns:
        Float32 noise of standard deviation 1 (left unscaled if it smoothed to a constant).
    """
    noise = rng.standard_normal(shape, dtype=np.float32)
    smooth: FloatArray = ndimage.gaussian_filter(noise, sigma=sigma)
    spread = float(smooth.std())
    return smooth / np.float32(spread if spread > 0 else 1.0)


def largest_component(mask: BoolArray) -> BoolArray:
    """Keep the largest connected component, so deformation never leaves detached islands."""
    components, count = ndimage.label(mask)
    if count <= 1:
        return mask
    sizes = np.bincount(components.ravel())
    sizes[0] = 0
    largest: BoolArray = components == int(np.argmax(sizes))
    return largest


def bounding_box(mask: BoolArray, pad: int) -> tuple[slice, slice, slice]:
    """Return the box around a non-empty mask grown by ``pad`` voxels, clipped to the volume."""
    nonzero = np.nonzero(mask)
    i, j, k = (
        slice(max(int(axis.min()) - pad, 0), min(int(axis.max()) + pad + 1, size))
        for axis, size in zip(nonzero, mask.shape, strict=True)
    )
    return i, j, k
