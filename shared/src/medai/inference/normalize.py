"""Intensity normalisation of a (C, X, Y, Z) image in numpy: one definition for every path.

Two modes, chosen by ``preprocessing.normalize``:

- ``window``: the intensity window ``[low, high]`` mapped onto ``[0, 1]`` and clipped, for
  modalities with absolute units (CT's Hounsfield units).
- ``zscore``: per channel, mean and standard deviation over that channel's nonzero voxels,
  zero staying zero. MRI has no absolute units, so each contrast is standardised on the
  head alone; skull-stripped scans (BraTS) are exactly 0 outside the brain, which is what
  makes "nonzero" the right mask.

The MONAI chains do the same with ``ScaleIntensityRanged`` and
``NormalizeIntensityd(nonzero=True, channel_wise=True)`` (tested for parity), so a model
served with ONNX Runtime sees the values it was trained on.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from medai.inference.resample import hu_window

NormalizeMode = Literal["window", "zscore"]
FloatArray = NDArray[np.float32]


def zscore_nonzero(image: NDArray[Any]) -> FloatArray:
    """Standardise each channel of ``(C, ...)`` over its nonzero voxels; zeros stay zero.

    Same arithmetic as MONAI's ``NormalizeIntensity(nonzero=True, channel_wise=True)``:
    float32, population standard deviation, a constant channel divided by 1, an all-zero
    channel left as it is.

    Args:
        image: Channel-first intensities, any numeric dtype.

    Returns:
        A new float32 array of the same shape.
    """
    out = np.array(image, dtype=np.float32, copy=True)
    for channel in out:
        inside = channel != 0
        if not inside.any():
            continue
        values = channel[inside]
        mean = float(np.mean(values))
        std = float(np.std(values))
        channel[inside] = (values - np.float32(mean)) / np.float32(std if std != 0.0 else 1.0)
    return out


def normalize_intensity(
    image: NDArray[Any], mode: NormalizeMode, window: tuple[float, float]
) -> FloatArray:
    """Normalise a channel-first image as the model was trained.

    Args:
        image: ``(C, X, Y, Z)`` intensities in the training geometry.
        mode: ``"window"`` or ``"zscore"`` (``preprocessing.normalize``).
        window: ``(intensity_min, intensity_max)``, used by ``"window"`` only.

    Returns:
        A new float32 array of the same shape.

    Raises:
        ValueError: An unknown mode, or a window whose low is not below its high.
    """
    if mode == "window":
        return hu_window(image, *window)
    if mode == "zscore":
        return zscore_nonzero(image)
    raise ValueError(f"normalize must be 'window' or 'zscore', got {mode!r}")
