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
from typing import Any

import numpy as np
from nibabel import orientations
from numpy.typing import NDArray
from scipy import ndimage

from medai.inference.grid import (
    AFFINE_TOL,
    SPATIAL_DIMS,
    Affine,
    ResamplePlan,
    check_order,
    checked_affine,
    plan_resample,
    reorientation,
    spacing_grid,
)

FloatArray = NDArray[np.float32]

__all__ = [
    "AFFINE_TOL",
    "hu_window",
    "reorient_to",
    "resample_to_grid",
    "resample_to_spacing",
    "spacing_grid",
]


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
        The reoriented array (a view of ``array``: flips and transposes copy nothing) and
        its affine.

    Raises:
        ValueError: If the array is not 3D, the affine not 4x4 or the codes not 3 letters.
    """
    _check_spatial(array, "array", SPATIAL_DIMS)
    matrix = checked_affine(affine)
    transform = reorientation(matrix, axcodes)
    if transform is None:
        return array, matrix
    reoriented: NDArray[Any] = orientations.apply_orientation(  # type: ignore[no-untyped-call]
        array, transform
    )
    flip_permute = orientations.inv_ornt_aff(transform, array.shape)  # type: ignore[no-untyped-call]
    return reoriented, np.asarray(matrix @ flip_permute, dtype=np.float64)


def _linear_along(data: FloatArray, axis: int, coords: NDArray[np.float64]) -> FloatArray:
    """1D linear interpolation of ``data`` along ``axis`` at ``coords``, clamped to the ends.

    Computed in place in the two gathered arrays, so a pass holds its input and two
    outputs' worth, not four (``medai.inference.budget`` counts on this).
    """
    size = data.shape[axis]
    clamped = np.clip(coords, 0.0, size - 1.0)
    lower = np.minimum(np.floor(clamped).astype(np.intp), max(size - 2, 0))
    upper = np.minimum(lower + 1, size - 1)
    weight_shape = [1] * data.ndim
    weight_shape[axis] = -1
    weight = (clamped - lower).astype(np.float32).reshape(weight_shape)
    result: FloatArray = np.take(data, lower, axis=axis)
    step = np.take(data, upper, axis=axis)
    np.subtract(step, result, out=step)
    step *= weight
    result += step
    return result


def _resample_separable(channel: NDArray[Any], plan: ResamplePlan) -> FloatArray:
    """Trilinear resampling as three 1D passes (border clamping is per axis, so exact).

    Shrinking axes go first (``plan.pass_order``): a tall thin volume resampled to a
    wide one never passes through a grid larger than both.
    """
    if plan.permutation is None:  # pragma: no cover - callers check plan.separable
        raise ValueError("not an axis-aligned resampling")
    data: FloatArray = np.transpose(np.asarray(channel, dtype=np.float32), plan.permutation)
    for axis in plan.pass_order:
        source_axis = plan.permutation[axis]
        coords = (
            plan.xform[source_axis, axis] * np.arange(plan.shape[axis]) + plan.xform[source_axis, 3]
        )
        data = _linear_along(data, axis, coords)
    return data


def _resample_channels(channels: NDArray[Any], plan: ResamplePlan, order: int) -> FloatArray:
    """Sample each channel at ``xform @ output_index`` with edge values beyond the border.

    Axis-aligned linear cases take the separable path. Otherwise scipy interpolates in
    float64 whatever the input type, as MONAI's ``dtype=float64`` resampling does;
    ``mode="nearest"`` for orders 0 and 1 equals clamping the sample coordinates to the
    array, which is ``grid_sample``'s ``padding_mode="border"``.
    """
    if plan.separable and channels.shape[0] == 1:
        # One channel: its result is the output; no second buffer of the output's size.
        return _resample_separable(channels[0], plan)[np.newaxis]
    out = np.empty((channels.shape[0], *plan.shape), dtype=np.float32)
    for index, channel in enumerate(channels):
        if plan.separable:
            out[index] = _resample_separable(channel, plan)
            continue
        ndimage.affine_transform(
            channel,
            plan.xform[:3, :3],
            offset=plan.xform[:3, 3],
            output_shape=plan.shape,
            output=out[index],
            order=order,
            mode="nearest",
            prefilter=False,
        )
    return out


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
    _check_spatial(array, "array", SPATIAL_DIMS)
    check_order(order)
    src_affine = checked_affine(affine)
    dst_shape, dst_affine = spacing_grid(array.shape, src_affine, target_spacing)
    plan = plan_resample(array.shape, src_affine, dst_affine, dst_shape, order)
    if plan.unchanged:
        return np.asarray(array, dtype=np.float32), src_affine
    resampled = _resample_channels(array[np.newaxis], plan, order)
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
    _check_spatial(array, "array", SPATIAL_DIMS + 1)
    plan = plan_resample(array.shape[1:], src_affine, dst_affine, dst_shape, order)
    if plan.unchanged:
        return np.asarray(array, dtype=np.float32)
    return _resample_channels(array, plan, order)


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
