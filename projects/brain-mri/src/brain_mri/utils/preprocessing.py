"""brain-mri's own preprocessing: each MRI contrast z-scored over the brain, one mask for all.

MRI has no absolute intensity scale, so each contrast is standardised; the question is
over which voxels. The kind's ``zscore`` uses every nonzero voxel, which is the brain
only on skull-stripped scans whose background is exactly 0 (BraTS as distributed). A
scan with noise in the air, or with skull and scalp still on (brain-mri's phantoms, many
clinical exports), would be standardised over mostly air and fat instead.

``zscore_over_brain`` therefore finds the brain first, from the image alone:

1. tissue is what has signal: on a skull-stripped scan (a tenth or more of its voxels
   exactly 0 in every channel) every nonzero voxel; otherwise Otsu's threshold on the
   mean of the channels separates tissue from air and bone (cortical bone, like air,
   has almost no MR signal);
2. the largest connected component of the tissue is the brain: the scalp is cut from it
   by the dark skull, the odd bright speck of noise is small;
3. holes inside it (a dark necrotic core, the ventricles on T1) are filled.

Each channel is then z-scored over that one mask (the same voxels for all four
contrasts) and every voxel outside it is set to 0, so the network sees skull-stripped
images whatever it was given. On a skull-stripped scan the mask is its foreground.

This is the project's ``normalizer`` extension point (``preprocessing.normalize:
project``): the kind runs this very function on the input grid, before resampling, in
training (inside the MONAI chain), evaluation, ``invoke predict`` and both serving
backends; the geometry around it (RAS, 2 mm) is the kind's, from ``preprocessing``.
numpy and scipy only: the ONNX server has no torch, and ``settings.py`` imports this.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

__all__ = ["brain_mask", "otsu_threshold", "zscore_over_brain"]

_BINS: Final = 256
_SPATIAL_RANK: Final = 3
_STRIPPED_BACKGROUND: Final = 0.1
"""Fraction of voxels exactly 0 in every channel from which a scan counts as skull-stripped."""


def otsu_threshold(values: NDArray[Any]) -> float:
    """Otsu's threshold of ``values``: the level that best splits them in two classes.

    Computed on a 256-bin histogram (the between-class variance is maximised over the
    bin edges), so it costs one pass over the voxels whatever their number.
    """
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return 0.0
    low, high = float(finite.min()), float(finite.max())
    if high <= low:
        return low
    counts, edges = np.histogram(finite, bins=_BINS, range=(low, high))
    centres = (edges[:-1] + edges[1:]) / 2
    weight_low = np.cumsum(counts).astype(np.float64)
    weight_high = weight_low[-1] - weight_low
    sums = np.cumsum(counts * centres)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_low = sums / weight_low
        mean_high = (sums[-1] - sums) / weight_high
        between = weight_low * weight_high * (mean_low - mean_high) ** 2
    between = np.nan_to_num(between[:-1], nan=0.0)
    return float(edges[1:][int(np.argmax(between))])


def brain_mask(image: NDArray[Any]) -> NDArray[np.bool_]:
    """The brain of a ``(C, X, Y, Z)`` MRI: its tissue's largest component, holes filled.

    Raises:
        ValueError: ``image`` is not channel-first 4D.
    """
    if image.ndim != _SPATIAL_RANK + 1:
        raise ValueError(f"expected a (channels, x, y, z) image, got shape {image.shape}")
    signal: NDArray[np.bool_] = np.any(image != 0, axis=0)
    if image.size and 1.0 - float(signal.mean()) >= _STRIPPED_BACKGROUND:
        tissue = signal  # skull-stripped: the background is exactly zero
    else:
        mean: NDArray[np.float32] = np.asarray(np.mean(image, axis=0, dtype=np.float32))
        tissue = mean > otsu_threshold(mean)
    components, count = ndimage.label(tissue)
    if count == 0:
        return tissue
    sizes = np.bincount(components.ravel())
    sizes[0] = 0
    largest = components == int(np.argmax(sizes))
    return np.asarray(ndimage.binary_fill_holes(largest), dtype=bool)


def zscore_over_brain(image: NDArray[Any]) -> NDArray[np.float32]:
    """Each channel of ``(C, X, Y, Z)`` z-scored over the brain; 0 outside it.

    Population standard deviation (a constant channel is divided by 1); an image without
    tissue comes back all zeros, which the network reads as "no tumour".
    """
    mask = brain_mask(image)
    out = np.zeros(image.shape, dtype=np.float32)
    if not mask.any():
        return out
    for channel, source in zip(out, image, strict=True):
        values = source[mask].astype(np.float32)
        std = float(values.std())
        channel[mask] = (values - np.float32(values.mean())) / np.float32(std or 1.0)
    return out
