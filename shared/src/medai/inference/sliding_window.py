"""Sliding-window prediction over a whole volume, in numpy, matching MONAI's inferer.

A network trained on fixed-size patches sees a whole volume one window at a time.
``monai.inferers.sliding_window_inference`` does this with torch; serving runs on ONNX
Runtime without torch, so this module reproduces the same windows (start positions,
padding of small inputs), the same importance weights and the same normalisation, to
give the same logits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import product
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float32]
#: ``(N, C, *roi)`` float32 windows in, ``(N, K, *roi)`` predictions out.
Predictor = Callable[[FloatArray], NDArray[Any]]
BlendMode = Literal["constant", "gaussian"]

#: MONAI's floor for importance weights, so no voxel is divided by (nearly) zero.
MIN_WEIGHT = 1e-3

__all__ = [
    "BlendMode",
    "Predictor",
    "importance_map",
    "padded_size",
    "sliding_window_predict",
    "window_counts",
    "window_starts",
]


def importance_map(
    patch_size: Sequence[int],
    mode: BlendMode = "constant",
    sigma_scale: float | Sequence[float] = 0.125,
) -> FloatArray:
    """Per-voxel weight of a window's prediction when overlapping windows are blended.

    Gaussian weights trust the centre of a window more than its edges, where the network
    saw little context. Same values as ``monai.data.utils.compute_importance_map``
    (float32, clamped below at ``max(min, 1e-3)``).

    Args:
        patch_size: Window size per spatial axis.
        mode: ``"constant"`` (equal weights) or ``"gaussian"``.
        sigma_scale: Gaussian sigma as a fraction of the window size, one or per axis.

    Returns:
        Float32 weights of shape ``patch_size``.

    Raises:
        ValueError: For an unknown mode or a sigma_scale of the wrong length.
    """
    size = tuple(int(s) for s in patch_size)
    if mode == "constant":
        return np.ones(size, dtype=np.float32)
    if mode != "gaussian":
        raise ValueError(f"mode must be 'constant' or 'gaussian', got {mode!r}")
    scales = _per_axis(sigma_scale, len(size), "sigma_scale")
    weights = np.ones((), dtype=np.float32)
    for edge, scale in zip(size, scales, strict=True):
        sigma = edge * scale
        x = np.arange(edge, dtype=np.float32) - np.float32((edge - 1) / 2.0)
        profile = np.exp(x**2 / np.float32(-2 * sigma**2)).astype(np.float32)
        weights = np.multiply.outer(weights, profile)
    floor = max(float(weights.min()), MIN_WEIGHT)
    clipped: FloatArray = np.maximum(weights, np.float32(floor)).astype(np.float32)
    return clipped


def _per_axis(value: float | Sequence[float], ndim: int, name: str) -> tuple[float, ...]:
    if isinstance(value, int | float):
        return (float(value),) * ndim
    values = tuple(float(v) for v in value)
    if len(values) != ndim:
        raise ValueError(f"{name} needs one value or {ndim}, got {value}")
    return values


def window_counts(
    image_size: Sequence[int], roi_size: Sequence[int], overlap: float | Sequence[float]
) -> tuple[int, ...]:
    """How many windows MONAI places along each axis, counted without listing them.

    Constant time whatever the size, so a planner can count the windows of a grid too
    large to allocate (``medai.inference.budget``).

    Args:
        image_size: Spatial size, each at least the roi size (pad first).
        roi_size: Window size per axis.
        overlap: Fraction of a window shared with the next, in ``[0, 1)``.

    Returns:
        The number of windows per axis; their product is the number of windows.

    Raises:
        ValueError: If an overlap is outside ``[0, 1)`` or the roi exceeds the image.
    """
    overlaps = _per_axis(overlap, len(image_size), "overlap")
    counts: list[int] = []
    for size, roi, frac in zip(image_size, roi_size, overlaps, strict=True):
        if not 0.0 <= frac < 1.0:
            raise ValueError(f"overlap must be in [0, 1), got {overlap}")
        if roi > size:
            raise ValueError(f"roi size {roi} exceeds image size {size}; pad the image first")
        interval = _interval(roi, size, frac)
        # The fewest windows d + 1 whose last start d * interval still reaches the end.
        counts.append(-(-(size - roi) // interval) + 1)
    return tuple(counts)


def _interval(roi: int, size: int, overlap: float) -> int:
    return roi if roi == size else max(int(roi * (1 - overlap)), 1)


def window_starts(
    image_size: Sequence[int], roi_size: Sequence[int], overlap: float | Sequence[float]
) -> list[list[int]]:
    """First index of every window along each axis, as MONAI places them.

    Windows step by ``int(roi * (1 - overlap))`` (at least 1); the last window is shifted
    back to end at the image border, so every window lies inside the (padded) image.

    Args:
        image_size: Spatial size, each at least the roi size (pad first).
        roi_size: Window size per axis.
        overlap: Fraction of a window shared with the next, in ``[0, 1)``.

    Returns:
        One list of start indices per axis; the windows are their Cartesian product.

    Raises:
        ValueError: If an overlap is outside ``[0, 1)`` or the roi exceeds the image.
    """
    counts = window_counts(image_size, roi_size, overlap)
    overlaps = _per_axis(overlap, len(image_size), "overlap")
    return [
        [min(d * _interval(roi, size, frac), size - roi) for d in range(count)]
        for size, roi, frac, count in zip(image_size, roi_size, overlaps, counts, strict=True)
    ]


def padded_size(image_size: Sequence[int], roi_size: Sequence[int]) -> tuple[int, ...]:
    """The grid the windows run over: each axis padded up to the roi when smaller.

    A non-positive roi entry means the whole axis, as in ``sliding_window_predict``.
    """
    return tuple(
        max(int(size), int(roi) if roi > 0 else int(size))
        for size, roi in zip(image_size, roi_size, strict=True)
    )


def _pad_widths(image_size: Sequence[int], roi_size: Sequence[int]) -> list[tuple[int, int]]:
    widths = []
    for size, roi in zip(image_size, roi_size, strict=True):
        missing = max(roi - size, 0)
        widths.append((missing // 2, missing - missing // 2))
    return widths


def sliding_window_predict(
    image: NDArray[Any],
    roi_size: Sequence[int],
    predictor: Predictor,
    *,
    sw_batch_size: int = 1,
    overlap: float | Sequence[float] = 0.25,
    mode: BlendMode = "constant",
    sigma_scale: float | Sequence[float] = 0.125,
) -> FloatArray:
    """Predict a whole channel-first image window by window and blend the windows.

    Matches ``monai.inferers.sliding_window_inference`` for a single image whose
    predictor keeps the window size: an image smaller than the roi is zero-padded
    symmetrically (extra voxel after), windows are batched ``sw_batch_size`` at a time
    in MONAI's order, predictions are weighted by :func:`importance_map`, divided by
    the summed weights and the padding is cropped off.

    Args:
        image: ``(C, *spatial)`` input; cast to float32.
        roi_size: Window size per spatial axis; a non-positive entry means the whole axis.
        predictor: Maps ``(N, C, *roi)`` float32 to ``(N, K, *roi)`` (e.g. an ONNX session).
        sw_batch_size: Windows per predictor call.
        overlap: Fraction of a window shared with its neighbour, in ``[0, 1)``.
        mode: ``"constant"`` or ``"gaussian"`` blending.
        sigma_scale: Gaussian sigma as a fraction of the roi size.

    Returns:
        ``(K, *spatial)`` float32 blended predictions on the input's grid.

    Raises:
        ValueError: On mismatched dimensions, a bad batch size or a predictor output of
            the wrong shape.
    """
    ndim = image.ndim - 1
    if len(roi_size) != ndim:
        raise ValueError(
            f"image must be (C, *spatial) with {len(roi_size)} spatial axes for roi_size "
            f"{tuple(roi_size)}, got shape {image.shape}"
        )
    if sw_batch_size < 1:
        raise ValueError(f"sw_batch_size must be at least 1, got {sw_batch_size}")
    original_size = tuple(int(s) for s in image.shape[1:])
    roi = tuple(int(r) if r > 0 else size for r, size in zip(roi_size, original_size, strict=True))
    widths = _pad_widths(original_size, roi)
    data = np.asarray(image, dtype=np.float32)
    if any(before or after for before, after in widths):
        data = np.pad(data, [(0, 0), *widths], mode="constant", constant_values=0.0)
    padded_size = data.shape[1:]

    windows = [
        tuple(slice(s, s + r) for s, r in zip(start, roi, strict=True))
        for start in product(*window_starts(padded_size, roi, overlap))
    ]
    weights = importance_map(roi, mode, sigma_scale)
    output: FloatArray | None = None
    for first in range(0, len(windows), sw_batch_size):
        batch_windows = windows[first : first + sw_batch_size]
        batch = np.stack([data[(slice(None), *window)] for window in batch_windows])
        predicted = np.asarray(predictor(batch), dtype=np.float32)
        expected = (len(batch_windows), *roi)
        if predicted.ndim != ndim + 2 or (predicted.shape[0], *predicted.shape[2:]) != expected:
            raise ValueError(
                f"predictor returned shape {predicted.shape} for windows {batch.shape}; "
                f"expected (N, K, *roi) with N={len(batch_windows)} and roi={roi}"
            )
        if output is None:
            output = np.zeros((predicted.shape[1], *padded_size), dtype=np.float32)
        for window, prediction in zip(batch_windows, predicted, strict=True):
            output[(slice(None), *window)] += prediction * weights
    if output is None:  # pragma: no cover - there is always at least one window
        raise ValueError("no windows to predict")

    weight_sum = np.zeros(padded_size, dtype=np.float32)
    for window in windows:
        weight_sum[window] += weights
    output /= weight_sum
    crop = tuple(
        slice(before, before + size)
        for (before, _), size in zip(widths, original_size, strict=True)
    )
    result: FloatArray = output[(slice(None), *crop)]
    return result
