"""The grid every resampling step produces, from shape and affine alone: no voxel is touched.

What a prediction costs is decided by the image header: 8^3 voxels declared 100 mm apart
become 468^3 voxels at 1.5 mm. These functions give each step's output grid (shape and
affine, the same as MONAI's ``Orientation``, ``Spacing`` and ``SpatialResample``) and how
the numpy path will interpolate it, so a caller can refuse a request before allocating
anything. ``medai.inference.resample`` runs on these same plans, so the plan and the work
cannot disagree.

Arrays are indexed like the affine's voxel axes; affines map voxel indices to world
millimetres (RAS+ for ``medai.io.Volume``). numpy and nibabel only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import product
from typing import Any

import numpy as np
from nibabel import orientations
from numpy.typing import NDArray

Affine = NDArray[np.float64]
Shape3 = tuple[int, int, int]

#: MONAI's ``AFFINE_TOL``: spacings and affines closer than this count as unchanged.
AFFINE_TOL = 1e-3
SPATIAL_DIMS = 3
_AFFINE_SIZE = SPATIAL_DIMS + 1
_LINEAR_ORDERS = (0, 1)
# Off-axis terms below this (voxels per voxel) are float noise from solving the affines;
# ignoring them moves a sample by under 1e-6 voxel even 10^4 voxels from the origin.
_AXIS_ALIGNED_EPS = 1e-10
# Matrix entries outside this range overflow or underflow when squared (Cholesky, norms);
# such affines are rescaled first. Sane affines (0.01 to 1000 mm) never are, so their
# results stay bit-identical to MONAI's.
_SAFE_SCALE = (1e-100, 1e100)

__all__ = [
    "AFFINE_TOL",
    "GridOverflowError",
    "ResamplePlan",
    "SingularAffineError",
    "checked_affine",
    "plan_resample",
    "reorientation",
    "reoriented_grid",
    "spacing_grid",
]


class GridOverflowError(ValueError):
    """A grid too large for float64 to count: no limit could allow it."""


class SingularAffineError(ValueError):
    """An affine whose voxel axes have zero length or lie in one plane: it places no volume."""


def _check_nonsingular(rzs: NDArray[np.float64]) -> None:
    directions, scales = _column_scaled(rzs)
    if np.any(scales == 0) or np.linalg.matrix_rank(directions) < SPATIAL_DIMS:
        raise SingularAffineError(
            "affine has voxel axes of zero length or in one plane (singular); "
            "it places no volume in space"
        )


def checked_affine(affine: NDArray[Any]) -> Affine:
    """``affine`` as a float64 4x4 matrix.

    Raises:
        ValueError: If it is not 4x4.
    """
    matrix = np.asarray(affine, dtype=np.float64)
    if matrix.shape != (_AFFINE_SIZE, _AFFINE_SIZE):
        raise ValueError(f"affine must be 4x4, got shape {matrix.shape}")
    return matrix


def check_order(order: int) -> None:
    """Refuse interpolation orders MONAI's bilinear/nearest resampling does not have.

    Raises:
        ValueError: If ``order`` is not 0 or 1.
    """
    if order not in _LINEAR_ORDERS:
        raise ValueError(f"order must be 0 (nearest) or 1 (linear) to match MONAI, got {order}")


def _column_scaled(rzs: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``rzs`` with each column divided by its largest entry, and those divisors.

    Only when an entry would over- or underflow once squared; otherwise ``rzs`` itself
    and ones, so sane affines give bit-identical results to MONAI's.
    """
    largest = np.max(np.abs(rzs), axis=0)
    nonzero = largest[largest > 0]
    if nonzero.size == 0 or (_SAFE_SCALE[0] <= nonzero.min() and nonzero.max() <= _SAFE_SCALE[1]):
        return rzs, np.where(largest > 0, 1.0, 0.0)
    scales = np.where(largest > 0, largest, 1.0)
    return rzs / scales, np.where(largest > 0, largest, 0.0)


def reorientation(affine: NDArray[Any], axcodes: str) -> NDArray[np.float64] | None:
    """The orientation transform (nibabel's) from ``affine``'s axes to ``axcodes``, or None.

    The closest axis permutation and flips, as MONAI's ``Orientation`` takes them.

    Raises:
        ValueError: If the affine is not 4x4 or the codes are not 3 letters.
        SingularAffineError: If the affine places no volume in space.
    """
    matrix = checked_affine(affine)
    _check_nonsingular(matrix[:3, :3])
    if len(axcodes) != SPATIAL_DIMS:
        raise ValueError(f"axcodes must name {SPATIAL_DIMS} axes, got {axcodes!r}")
    oriented = matrix.copy()
    # io_orientation divides each column by its length: scaling a column changes nothing.
    oriented[:3, :3] = _column_scaled(matrix[:3, :3])[0]
    # nibabel's orientation helpers are untyped; their results are plain ndarrays.
    source = orientations.io_orientation(oriented)  # type: ignore[no-untyped-call]
    target = orientations.axcodes2ornt(tuple(axcodes))  # type: ignore[no-untyped-call]
    transform = np.asarray(
        orientations.ornt_transform(source, target),  # type: ignore[no-untyped-call]
        dtype=np.float64,
    )
    if np.array_equal(transform, [[0, 1], [1, 1], [2, 1]]):
        return None
    return transform


def reoriented_grid(
    shape: Sequence[int], affine: NDArray[Any], axcodes: str = "RAS"
) -> tuple[Shape3, Affine]:
    """Shape and affine of a volume after ``reorient_to(..., axcodes)``: same voxels, permuted.

    Raises:
        ValueError: If the affine is not 4x4 or the codes are not 3 letters.
        SingularAffineError: If the affine places no volume in space.
    """
    matrix = checked_affine(affine)
    transform = reorientation(matrix, axcodes)
    x, y, z = (int(s) for s in shape)
    if transform is None:
        return (x, y, z), matrix
    sizes = [0, 0, 0]
    for source_axis, (target_axis, _) in enumerate(transform):
        sizes[int(target_axis)] = (x, y, z)[source_axis]
    flip_permute = orientations.inv_ornt_aff(transform, (x, y, z))  # type: ignore[no-untyped-call]
    return (sizes[0], sizes[1], sizes[2]), np.asarray(matrix @ flip_permute, dtype=np.float64)


def voxel_spacing(affine: Affine) -> NDArray[np.float64]:
    """Voxel size per axis; same formula as MONAI's ``affine_to_spacing`` (0 becomes 1)."""
    directions, scales = _column_scaled(affine[:3, :3])
    spacing: NDArray[np.float64] = np.sqrt(np.sum(directions**2, axis=0)) * np.where(
        scales > 0, scales, 1.0
    )
    spacing[spacing == 0] = 1.0
    return spacing


def _zoomed_affine(affine: Affine, spacing: NDArray[np.float64]) -> Affine:
    """MONAI's ``zoom_affine(diagonal=False)``: keep rotation and flips, drop shear, set zooms.

    The rotation ``Q`` of ``rzs = Q R`` does not change when columns are scaled (``R``
    absorbs the scales), so huge or tiny voxels are factored column-scaled.
    """
    _check_nonsingular(affine[:3, :3])
    directions, _ = _column_scaled(affine[:3, :3])
    zooms = np.linalg.cholesky(directions.T @ directions).T
    rotation = directions @ np.linalg.inv(zooms)
    new_scale = np.sign(np.diag(zooms)) * np.abs(spacing)
    new_affine = np.eye(_AFFINE_SIZE)
    new_affine[:3, :3] = rotation @ np.diag(new_scale)
    return new_affine


def _shape_and_offset(
    shape: Sequence[int], in_affine: Affine, out_affine: Affine
) -> tuple[Shape3, NDArray[np.float64]]:
    """MONAI's ``compute_shape_offset(scale_extent=False)``: voxel centres of the corners.

    Raises:
        GridOverflowError: If the output extent is beyond float64.
    """
    shape_f = np.asarray(shape, dtype=np.float64)
    corners = np.array(list(product(*[(0.0, dim - 1.0) for dim in shape_f]))).T
    corners = np.concatenate((corners, np.ones_like(corners[:1])))
    with np.errstate(over="ignore", invalid="ignore"):
        corners_out = np.linalg.solve(out_affine, in_affine) @ corners
        corners_world = in_affine @ corners
        distances = corners_out[:-1].copy()
        corners_out = corners_out[:-1] / corners_out[-1]
        extent = np.ptp(corners_out, axis=1) + 1.0
    if not np.all(np.isfinite(extent)):
        raise GridOverflowError("the resampled grid is too large to count")
    out_shape = np.round(extent)
    offset = None
    for i in range(corners.shape[1]):
        min_corner = np.min(distances - distances[:, i : i + 1], axis=1)
        if np.allclose(min_corner, 0.0, rtol=AFFINE_TOL):
            offset = corners_world[:-1, i]
            break
    if offset is None:
        # No input corner is the minimum along every output axis: centre-align instead.
        offset = (
            in_affine[:-1, :-1] @ (shape_f / 2.0)
            + in_affine[:-1, -1]
            - out_affine[:-1, :-1] @ (out_shape / 2.0)
        )
    x, y, z = (int(v) for v in out_shape)
    return (x, y, z), offset


def spacing_grid(
    shape: Sequence[int], affine: NDArray[Any], target_spacing: Sequence[float]
) -> tuple[Shape3, Affine]:
    """The grid (shape, affine) MONAI's ``Spacing`` resamples a volume onto.

    Spacings already within ``AFFINE_TOL`` of the target are kept, as MONAI does; the
    first voxel centre of the output sits on the input corner that is lowest along every
    output axis. Sizes are exact Python integers however large (1e30 mm voxels included).

    Args:
        shape: Spatial shape of the input.
        affine: Its 4x4 voxel-to-world matrix.
        target_spacing: Output voxel size in millimetres, one per axis.

    Returns:
        The output spatial shape and affine.

    Raises:
        ValueError: If the spacing is not three positive numbers.
        SingularAffineError: If the affine places no volume in space.
        GridOverflowError: If the output grid is too large for float64 to count.
    """
    matrix = checked_affine(affine)
    target = np.asarray(target_spacing, dtype=np.float64)
    if target.shape != (SPATIAL_DIMS,) or np.any(target <= 0):
        raise ValueError(f"target_spacing must be 3 positive numbers, got {target_spacing}")
    original = voxel_spacing(matrix)
    close = np.abs(original - target) <= AFFINE_TOL
    spacing = np.where(close, original, target)
    new_affine = _zoomed_affine(matrix, spacing)
    out_shape, offset = _shape_and_offset(shape, matrix, new_affine)
    new_affine[:3, 3] = offset
    return out_shape, new_affine


def _axis_permutation(matrix: NDArray[np.float64]) -> tuple[int, int, int] | None:
    """Source axis read along each output axis, if the transform only scales/flips/permutes.

    Such grids (the usual case once both sides are in the same orientation) can be
    interpolated one axis at a time, which is exact and much faster than a general affine.
    """
    aligned = np.abs(matrix) > _AXIS_ALIGNED_EPS
    if not (np.all(aligned.sum(axis=0) == 1) and np.all(aligned.sum(axis=1) == 1)):
        return None
    first, second, third = (int(np.flatnonzero(aligned[:, j])[0]) for j in range(SPATIAL_DIMS))
    return first, second, third


@dataclass(frozen=True)
class ResamplePlan:
    """How one resampling runs: skipped, one general affine pass, or three 1D passes.

    Attributes:
        source_shape: Spatial shape of the array resampled.
        shape: Spatial shape of the result.
        xform: Source voxel coordinates of each output voxel index (4x4).
        unchanged: The grids coincide within ``AFFINE_TOL``: nothing is interpolated.
        permutation: For an axis-aligned linear resampling, the source axis read along
            each output axis (three 1D passes); None for the general affine path.
        pass_order: Output axes in the order the 1D passes run: shrinking axes first, so
            no intermediate is larger than both the source and the result.
    """

    source_shape: Shape3
    shape: Shape3
    xform: Affine
    unchanged: bool
    permutation: tuple[int, int, int] | None
    pass_order: tuple[int, int, int]

    @property
    def separable(self) -> bool:
        """Whether the resampling runs as three 1D passes."""
        return not self.unchanged and self.permutation is not None

    def intermediate_shapes(self) -> tuple[Shape3, ...]:
        """Shape after each 1D pass (the last is ``shape``); empty unless separable."""
        if self.permutation is None or self.unchanged:
            return ()
        sizes = [self.source_shape[axis] for axis in self.permutation]
        shapes: list[Shape3] = []
        for axis in self.pass_order:
            sizes[axis] = self.shape[axis]
            shapes.append((sizes[0], sizes[1], sizes[2]))
        return tuple(shapes)


def _pass_order(source_sizes: Sequence[int], sizes: Sequence[int]) -> tuple[int, int, int]:
    """Axes sorted by growth (output / source size), shrinking ones first (stable)."""
    ratios = [size / max(source, 1) for source, size in zip(source_sizes, sizes, strict=True)]
    first, second, third = sorted(range(SPATIAL_DIMS), key=lambda axis: ratios[axis])
    return first, second, third


def _check_sizes(shape: Sequence[int], what: str) -> Shape3:
    if len(shape) != SPATIAL_DIMS:
        raise ValueError(f"{what} must have {SPATIAL_DIMS} sizes, got {tuple(shape)}")
    x, y, z = (int(s) for s in shape)
    if min(x, y, z) < 1:
        raise ValueError(f"{what} must be at least 1 voxel along each axis, got {(x, y, z)}")
    return x, y, z


def plan_resample(
    source_shape: Sequence[int],
    src_affine: NDArray[Any],
    dst_affine: NDArray[Any],
    dst_shape: Sequence[int],
    order: int = 1,
) -> ResamplePlan:
    """How ``resample_to_grid`` maps a ``source_shape`` grid onto ``dst_shape``.

    MONAI's shortcut applies: the same size and (nearly) the same grid means nothing is
    interpolated.

    Raises:
        ValueError: If an affine is not 4x4, a shape not three positive sizes, or
            ``order`` not 0 or 1.
    """
    check_order(order)
    source = checked_affine(src_affine)
    destination = checked_affine(dst_affine)
    src = _check_sizes(source_shape, "source shape")
    dst = _check_sizes(dst_shape, "destination shape")
    xform = np.asarray(np.linalg.solve(source, destination), dtype=np.float64)
    unchanged = src == dst and bool(
        np.allclose(source, destination, atol=AFFINE_TOL)
        or np.allclose(xform, np.eye(_AFFINE_SIZE), atol=AFFINE_TOL)
    )
    permutation = _axis_permutation(xform[:3, :3]) if order == 1 else None
    if permutation is None:
        return ResamplePlan(src, dst, xform, unchanged, None, (0, 1, 2))
    source_sizes = [src[axis] for axis in permutation]
    return ResamplePlan(src, dst, xform, unchanged, permutation, _pass_order(source_sizes, dst))


def voxel_count(shape: Sequence[int]) -> int:
    """Voxels of a grid, as an exact integer."""
    return math.prod(int(s) for s in shape)
