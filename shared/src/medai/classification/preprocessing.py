"""Turn a radiograph into the classifier's input: the one function training and serving share.

A classifier is only as good as the agreement between what it was trained on and what it
is served; so the resize lives here, in numpy and Pillow (no torch), and both the training
data pipeline and the ONNX server call it.

The image is resized to a square without keeping its aspect ratio (chest radiographs are
close to square; stretching keeps every pixel and maps CAMs straight back onto the image).
Pillow's bilinear filter widens with the reduction factor, so a 2000-pixel radiograph
shrunk to 224 is anti-aliased rather than subsampled.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from PIL import Image

FloatArray = NDArray[np.float32]

_IMAGE_RANK = 2
_RANGE_SLACK = 1e-4
_FLAT_STD = 1e-6


def resize_image(pixels: NDArray[np.floating] | NDArray[np.integer], size: int) -> FloatArray:
    """Resize a 2D image to ``(size, size)`` float32 with an anti-aliasing bilinear filter.

    Args:
        pixels: ``(H, W)`` intensities (any real dtype).
        size: Side of the square output, in pixels.

    Returns:
        ``(size, size)`` float32; values stay within the input's range.

    Raises:
        ValueError: If ``pixels`` is not 2D or empty, or ``size`` is not positive.
    """
    if size < 1:
        raise ValueError(f"image size must be a positive number of pixels, got {size}")
    array = np.asarray(pixels)
    if array.ndim != _IMAGE_RANK or array.size == 0:
        raise ValueError(f"expected a 2D image (H, W), got an array of shape {array.shape}")
    image = Image.fromarray(np.ascontiguousarray(array, dtype=np.float32))
    resized = image.resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(resized, dtype=np.float32).copy()


def standardize_image(image: FloatArray) -> FloatArray:
    """Zero mean, unit standard deviation per image; a flat image only loses its mean.

    Evens out exposure differences between radiographs (and between sites).
    """
    centred = image - np.float32(image.mean())
    std = float(centred.std())
    if std < _FLAT_STD:
        return centred.astype(np.float32)
    return (centred / np.float32(std)).astype(np.float32)


def prepare_image(
    pixels: NDArray[np.floating] | NDArray[np.integer], size: int, *, standardize: bool = False
) -> FloatArray:
    """Check a ``[0, 1]`` radiograph and resize it (and optionally standardise it).

    Args:
        pixels: ``(H, W)`` intensities in ``[0, 1]``.
        size: Side of the square network input.
        standardize: Also standardise per image (see ``standardize_image``).

    Returns:
        ``(size, size)`` float32.

    Raises:
        ValueError: If ``pixels`` is not a finite 2D image with values in ``[0, 1]``.
    """
    array = np.asarray(pixels, dtype=np.float32)
    if array.ndim != _IMAGE_RANK or array.size == 0:
        raise ValueError(f"expected a 2D image (H, W), got an array of shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError("image has non-finite values (NaN or infinity)")
    low, high = float(array.min()), float(array.max())
    if low < -_RANGE_SLACK or high > 1.0 + _RANGE_SLACK:
        raise ValueError(
            f"image intensities must be scaled to [0, 1], got values in [{low:.3g}, {high:.3g}]"
        )
    resized = resize_image(array, size)
    return standardize_image(resized) if standardize else resized


def to_model_input(
    pixels: NDArray[np.floating] | NDArray[np.integer], size: int, *, standardize: bool = False
) -> FloatArray:
    """One radiograph as the network's input tensor ``(1, 1, size, size)`` float32.

    Args:
        pixels: ``(H, W)`` intensities in ``[0, 1]``.
        size: Side of the square network input.
        standardize: Also standardise per image.

    Returns:
        ``(1, 1, size, size)`` float32, C-contiguous.

    Raises:
        ValueError: As ``prepare_image``.
    """
    return prepare_image(pixels, size, standardize=standardize)[np.newaxis, np.newaxis]


def to_model_batch(
    images: Sequence[NDArray[np.floating] | NDArray[np.integer]],
    size: int,
    *,
    standardize: bool = False,
) -> FloatArray:
    """Several radiographs (of any sizes) as one batch ``(N, 1, size, size)`` float32.

    Raises:
        ValueError: If ``images`` is empty, or as ``prepare_image`` (naming the index).
    """
    if not images:
        raise ValueError("expected at least one image in the batch, got none")
    prepared = []
    for index, pixels in enumerate(images):
        try:
            prepared.append(prepare_image(pixels, size, standardize=standardize))
        except ValueError as exc:
            raise ValueError(f"image {index}: {exc}") from None
    return np.stack(prepared)[:, np.newaxis]
