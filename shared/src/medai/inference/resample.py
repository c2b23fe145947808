"""Geometry and intensity steps of a MONAI preprocessing chain, in numpy and scipy.

The serving path must not import torch or MONAI (their import alone costs tens of
seconds), yet it has to feed the network exactly what training fed it. These functions
reproduce MONAI's ``Orientation``, ``Spacing`` (``diagonal=False``, ``align_corners=False``,
``scale_extent=False``), ``SpatialResample`` (bilinear, ``padding_mode="border"``) and
``ScaleIntensityRange`` (with ``clip=True``): the same output grid (shape and affine), the
same interpolation coordinates and the same "nothing changed, do not interpolate" shortcut.

Arrays are indexed like the affine's voxel axes; affines map voxel indices to world
millimetres (RAS+ for ``medai.io.Volume``).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import product
from typing import Any

import numpy as np
from nibabel import orientations
from numpy.typing import NDArray
from scipy import ndimage

Affine = NDArray[np.float64]
FloatArray = NDArray[np.float32]

#: MONAI's ``AFFINE_TOL``: spacings and affines closer than this count as unchanged.
AFFINE_TOL = 1e-3
_SPATIAL_DIMS = 3
_AFFINE_SIZE = _SPATIAL_DIMS + 1
_LINEAR_ORDERS = (0, 1)
# Off-axis terms below this (voxels per voxel) are float noise from solving the affines;
# ignoring them moves a sample by under 1e-6 voxel even 10^4 voxels from the origin.
_AXIS_ALIGNED_EPS = 1e-10

__all__ = [
    "AFFINE_TOL",
    "hu_window",
    "reorient_to",
    "resample_to_grid",
    "resample_to_spacing",
    "spacing_grid",
]


def _checked_affine(affine: NDArray[Any]) -> Affine:
    matrix = np.asarray(affine, dtype=np.float64)
    if matrix.shape != (_AFFINE_SIZE, _AFFINE_SIZE):
        raise ValueError(f"affine must be 4x4, got shape {matrix.shape}")
    return matrix


def _check_spatial(array: NDArray[Any], what: str, ndim: int) -> None:
    if array.ndim != ndim:
        raise ValueError(f"{what} must be {ndim}D, got shape {array.shape}")


def reorient_to(
    array: NDArray[Any], affine: NDArray[Any], axcodes: str = "RAS"
) -> tuple[NDArray[Any], Affine]:
    """Flip and permute a 3D array so its voxel axes point along ``axcodes``.

    Exact (no interpolation), like MONAI's ``Orientation``: the closest axis permutation
    and flips are taken from the affine with nibabel, and the affine is updated so every
    voxel keeps its world position.

    Args:
        array: Spatial array ``(X, Y, Z)``.
        affine: Its 4x4 voxel-to-world matrix.
        axcodes: Target axis codes with nibabel's labels, e.g. ``"RAS"`` or ``"LPS"``.

    Returns:
        The reoriented array (possibly a view of ``array``) and its affine.

    Raises:
        ValueError: If the array is not 3D, the affine not 4x4 or the codes not 3 letters.
    """
    _check_spatial(array, "array", _SPATIAL_DIMS)
    matrix = _checked_affine(affine)
    if len(axcodes) != _SPATIAL_DIMS:
        raise ValueError(f"axcodes must name {_SPATIAL_DIMS} axes, got {axcodes!r}")
    # nibabel's orientation helpers are untyped; their results are plain ndarrays.
    source = orientations.io_orientation(matrix)  # type: ignore[no-untyped-call]
    target = orientations.axcodes2ornt(tuple(axcodes))  # type: ignore[no-untyped-call]
    transform = orientations.ornt_transform(source, target)  # type: ignore[no-untyped-call]
    if np.array_equal(transform, [[0, 1], [1, 1], [2, 1]]):
        return array, matrix
    reoriented: NDArray[Any] = orientations.apply_orientation(  # type: ignore[no-untyped-call]
        array, transform
    )
    flip_permute = orientations.inv_ornt_aff(transform, array.shape)  # type: ignore[no-untyped-call]
    return reoriented, np.asarray(matrix @ flip_permute, dtype=np.float64)


def _spacing_of(affine: Affine) -> NDArray[np.float64]:
    # Same formula as MONAI's affine_to_spacing, so the AFFINE_TOL comparison agrees.
    spacing: NDArray[np.float64] = np.sqrt(np.sum(affine[:3, :3] ** 2, axis=0))
    spacing[spacing == 0] = 1.0
    return spacing


def _zoomed_affine(affine: Affine, spacing: NDArray[np.float64]) -> Affine:
    """MONAI's ``zoom_affine(diagonal=False)``: keep rotation and flips, drop shear, set zooms."""
    rzs = affine[:3, :3]
    zooms = np.linalg.cholesky(rzs.T @ rzs).T
    rotation = rzs @ np.linalg.inv(zooms)
    scale = np.sign(np.diag(zooms)) * np.abs(spacing)
    new_affine = np.eye(_AFFINE_SIZE)
    new_affine[:3, :3] = rotation @ np.diag(scale)
    return new_affine


def _shape_and_offset(
    shape: Sequence[int], in_affine: Affine, out_affine: Affine
) -> tuple[tuple[int, int, int], NDArray[np.float64]]:
    """MONAI's ``compute_shape_offset(scale_extent=False)``: voxel centres of the corners."""
    shape_f = np.asarray(shape, dtype=np.float64)
    corners = np.array(list(product(*[(0.0, dim - 1.0) for dim in shape_f]))).T
    corners = np.concatenate((corners, np.ones_like(corners[:1])))
    corners_out = np.linalg.solve(out_affine, in_affine) @ corners
    corners_world = in_affine @ corners
    distances = corners_out[:-1].copy()
    corners_out = corners_out[:-1] / corners_out[-1]
    out_shape = np.round(np.ptp(corners_out, axis=1) + 1.0)
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
) -> tuple[tuple[int, int, int], Affine]:
    """The grid (shape, affine) MONAI's ``Spacing`` resamples a volume onto.

    Spacings already within ``AFFINE_TOL`` of the target are kept, as MONAI does; the
    first voxel centre of the output sits on the input corner that is lowest along every
    output axis.

    Args:
        shape: Spatial shape of the input.
        affine: Its 4x4 voxel-to-world matrix.
        target_spacing: Output voxel size in millimetres, one per axis.

    Returns:
        The output spatial shape and affine.

    Raises:
        ValueError: If the spacing is not three positive numbers.
    """
    matrix = _checked_affine(affine)
    target = np.asarray(target_spacing, dtype=np.float64)
    if target.shape != (_SPATIAL_DIMS,) or np.any(target <= 0):
        raise ValueError(f"target_spacing must be 3 positive numbers, got {target_spacing}")
    original = _spacing_of(matrix)
    close = np.abs(original - target) <= AFFINE_TOL
    spacing = np.where(close, original, target)
    new_affine = _zoomed_affine(matrix, spacing)
    out_shape, offset = _shape_and_offset(shape, matrix, new_affine)
    new_affine[:3, 3] = offset
    return out_shape, new_affine


def _grid_unchanged(
    src_affine: Affine, dst_affine: Affine, src_shape: Sequence[int], dst_shape: Sequence[int]
) -> tuple[bool, Affine]:
    """MONAI's shortcut test: same size and (nearly) the same grid means no resampling."""
    xform = np.asarray(np.linalg.solve(src_affine, dst_affine), dtype=np.float64)
    if tuple(src_shape) != tuple(dst_shape):
        return False, xform
    same = np.allclose(src_affine, dst_affine, atol=AFFINE_TOL) or np.allclose(
        xform, np.eye(_AFFINE_SIZE), atol=AFFINE_TOL
    )
    return bool(same), xform


def _axis_permutation(matrix: NDArray[np.float64]) -> tuple[int, int, int] | None:
    """Source axis read along each output axis, if the transform only scales/flips/permutes.

    Such grids (the usual case once both sides are in the same orientation) can be
    interpolated one axis at a time, which is exact and much faster than a general affine.
    """
    aligned = np.abs(matrix) > _AXIS_ALIGNED_EPS
    if not (np.all(aligned.sum(axis=0) == 1) and np.all(aligned.sum(axis=1) == 1)):
        return None
    first, second, third = (int(np.flatnonzero(aligned[:, j])[0]) for j in range(_SPATIAL_DIMS))
    return first, second, third


def _linear_along(data: FloatArray, axis: int, coords: NDArray[np.float64]) -> FloatArray:
    """1D linear interpolation of ``data`` along ``axis`` at ``coords``, clamped to the ends."""
    size = data.shape[axis]
    clamped = np.clip(coords, 0.0, size - 1.0)
    lower = np.minimum(np.floor(clamped).astype(np.intp), max(size - 2, 0))
    upper = np.minimum(lower + 1, size - 1)
    weight_shape = [1] * data.ndim
    weight_shape[axis] = -1
    weight = (clamped - lower).astype(np.float32).reshape(weight_shape)
    low_values = np.take(data, lower, axis=axis)
    high_values = np.take(data, upper, axis=axis)
    result: FloatArray = low_values + (high_values - low_values) * weight
    return result


def _resample_separable(
    channel: NDArray[Any],
    xform: Affine,
    dst_shape: tuple[int, int, int],
    permutation: tuple[int, int, int],
) -> FloatArray:
    """Trilinear resampling as three 1D passes (border clamping is per axis, so exact)."""
    data: FloatArray = np.transpose(np.asarray(channel, dtype=np.float32), permutation)
    for axis, source_axis in enumerate(permutation):
        coords = xform[source_axis, axis] * np.arange(dst_shape[axis]) + xform[source_axis, 3]
        data = _linear_along(data, axis, coords)
    return data


def _resample_channels(
    channels: NDArray[Any], xform: Affine, dst_shape: tuple[int, int, int], order: int
) -> FloatArray:
    """Sample each channel at ``xform @ output_index`` with edge values beyond the border.

    Axis-aligned linear cases take the separable path. Otherwise scipy interpolates in
    float64 whatever the input type, as MONAI's ``dtype=float64`` resampling does;
    ``mode="nearest"`` for orders 0 and 1 equals clamping the sample coordinates to the
    array, which is ``grid_sample``'s ``padding_mode="border"``.
    """
    out = np.empty((channels.shape[0], *dst_shape), dtype=np.float32)
    permutation = _axis_permutation(xform[:3, :3]) if order == 1 else None
    for index, channel in enumerate(channels):
        if permutation is not None:
            out[index] = _resample_separable(channel, xform, dst_shape, permutation)
            continue
        ndimage.affine_transform(
            channel,
            xform[:3, :3],
            offset=xform[:3, 3],
            output_shape=dst_shape,
            output=out[index],
            order=order,
            mode="nearest",
            prefilter=False,
        )
    return out


def _check_order(order: int) -> None:
    if order not in _LINEAR_ORDERS:
        raise ValueError(f"order must be 0 (nearest) or 1 (linear) to match MONAI, got {order}")


def resample_to_spacing(
    array: NDArray[Any],
    affine: NDArray[Any],
    target_spacing: Sequence[float],
    order: int = 1,
) -> tuple[FloatArray, Affine]:
    """Resample a 3D array to ``target_spacing`` on the grid MONAI's ``Spacing`` would use.

    Args:
        array: Spatial array ``(X, Y, Z)``.
        affine: Its 4x4 voxel-to-world matrix.
        target_spacing: Output voxel size in millimetres.
        order: 1 for (tri)linear interpolation (MONAI ``"bilinear"``), 0 for nearest.
            MONAI's nearest mode may break exact ties differently.

    Returns:
        The float32 array and its affine. When the grid does not change (within
        ``AFFINE_TOL``) the input is returned without interpolation, with its own affine,
        as MONAI does.

    Raises:
        ValueError: If the array is not 3D, the affine not 4x4 or ``order`` not 0 or 1.
    """
    _check_spatial(array, "array", _SPATIAL_DIMS)
    _check_order(order)
    src_affine = _checked_affine(affine)
    dst_shape, dst_affine = spacing_grid(array.shape, src_affine, target_spacing)
    unchanged, xform = _grid_unchanged(src_affine, dst_affine, array.shape, dst_shape)
    if unchanged:
        return np.asarray(array, dtype=np.float32), src_affine
    resampled = _resample_channels(array[np.newaxis], xform, dst_shape, order)
    return resampled[0], dst_affine


def resample_to_grid(
    array: NDArray[Any],
    src_affine: NDArray[Any],
    dst_affine: NDArray[Any],
    dst_shape: Sequence[int],
    order: int = 1,
) -> FloatArray:
    """Map a channel-first array onto another grid, as MONAI's ``SpatialResample`` does.

    Used to bring logits computed in the model's geometry back onto the input volume's
    voxels (``mode="bilinear"``, ``padding_mode="border"``): outside the source grid the
    nearest border value is used, so every input voxel gets a prediction.

    Args:
        array: ``(C, X, Y, Z)`` values on the source grid.
        src_affine: 4x4 voxel-to-world matrix of ``array``.
        dst_affine: 4x4 voxel-to-world matrix of the destination grid.
        dst_shape: Spatial shape of the destination grid.
        order: 1 for (tri)linear interpolation, 0 for nearest.

    Returns:
        ``(C, *dst_shape)`` float32. When the grids coincide (within ``AFFINE_TOL``) the
        input is returned as float32 without interpolation.

    Raises:
        ValueError: If the array is not 4D, an affine not 4x4 or ``order`` not 0 or 1.
    """
    _check_spatial(array, "array", _SPATIAL_DIMS + 1)
    _check_order(order)
    source = _checked_affine(src_affine)
    destination = _checked_affine(dst_affine)
    x, y, z = (int(v) for v in dst_shape)
    unchanged, xform = _grid_unchanged(source, destination, array.shape[1:], (x, y, z))
    if unchanged:
        return np.asarray(array, dtype=np.float32)
    return _resample_channels(array, xform, (x, y, z), order)


def hu_window(array: NDArray[Any], low: float, high: float) -> FloatArray:
    """Map intensities ``[low, high]`` linearly onto ``[0, 1]`` and clip outside.

    Same arithmetic, in float32, as MONAI's ``ScaleIntensityRange(a_min=low, a_max=high,
    b_min=0, b_max=1, clip=True)``, so the network sees the values it was trained on.

    Args:
        array: Intensities, e.g. CT in Hounsfield units.
        low: Value mapped to 0.
        high: Value mapped to 1.

    Returns:
        A new float32 array in ``[0, 1]``.

    Raises:
        ValueError: If ``low`` is not below ``high``.
    """
    if not low < high:
        raise ValueError(f"window low ({low}) must be below high ({high})")
    windowed: FloatArray = (np.asarray(array, dtype=np.float32) - low) / (high - low)
    np.clip(windowed, 0.0, 1.0, out=windowed)
    return windowed
