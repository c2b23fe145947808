"""Measurements on label maps (numpy only): structure volumes, display windows, busy slices.

Light on purpose: the server's JSON summary uses them, and it must not import torch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


def label_volumes_ml(
    mask: np.ndarray, spacing: Sequence[float], labels: Mapping[int, str]
) -> dict[str, float]:
    """Volume of each labelled structure in millilitres (1 ml = 1000 mm^3)."""
    voxel_ml = float(np.prod(spacing)) / 1000.0
    return {
        name: float(np.count_nonzero(mask == value)) * voxel_ml
        for value, name in labels.items()
        if value
    }


def display_window(image: np.ndarray, low: float, high: float) -> np.ndarray:
    """Map intensities to [0, 1] for display (for CT a clinical window, e.g. -200..300 HU)."""
    return np.clip((image - low) / (high - low), 0.0, 1.0)


def most_labelled_slice(mask: np.ndarray, axis: int = 2) -> int:
    """Index of the slice along ``axis`` with the most foreground (the middle if none)."""
    other_axes = tuple(a for a in range(mask.ndim) if a != axis)
    counts = np.count_nonzero(mask, axis=other_axes)
    return int(np.argmax(counts)) if counts.any() else mask.shape[axis] // 2
