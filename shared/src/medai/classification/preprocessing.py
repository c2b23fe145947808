"""Turn a radiograph into the classifier's input: the one function training and serving share.

A classifier is only as good as the agreement between what it was trained on and what it
is served; so the resize lives here, in numpy and Pillow (no torch), and both the training
data pipeline and the ONNX server call it. A project's own image step
(``preprocessing.image_step: project``) runs inside it, on the resized image, so it too
is the same in training, evaluation, prediction and serving.

The image is resized to a square without keeping its aspect ratio (chest radiographs are
close to square; stretching keeps every pixel and maps CAMs straight back onto the image).
Pillow's bilinear filter widens with the reduction factor, so a 2000-pixel radiograph
shrunk to 224 is anti-aliased rather than subsampled.

Pillow resizes in two 1D passes through an intermediate image; done columns first, a
524288 x 32 strip (within the reader's pixel limit) resized to 1024 passes through
524288 x 1024 pixels (2 GB). ``resize_passes`` orders the passes so no intermediate is
larger than both the input and the output, and ``plan_radiograph`` counts what one
prediction holds, so a server refuses past ``limits`` before resizing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from medai.classification.extensions import ImageStep, checked_image_step
from medai.config.sections import WorkLimits
from medai.inference.budget import Grid, Stage, WorkPlan, check_work

FloatArray = NDArray[np.float32]
Size2 = tuple[int, int]

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
    passes = resize_passes(array.shape, size)
    if len(passes) == 1 or not _ordered(array.shape, size):
        image = image.resize((size, size), Image.Resampling.BILINEAR)
    else:  # one axis per call: Pillow then runs exactly the pass asked for
        for rows, columns in passes:
            image = image.resize((columns, rows), Image.Resampling.BILINEAR)
    return np.asarray(image, dtype=np.float32).copy()


def _ordered(shape: Sequence[int], size: int) -> bool:
    """Whether the pass order matters: one order's intermediate exceeds input and output."""
    rows, columns = (int(side) for side in shape)
    largest = max(rows * columns, size * size)
    return max(rows * size, size * columns) > largest


def resize_passes(shape: Sequence[int], size: int) -> tuple[Size2, ...]:
    """The ``(rows, columns)`` image each pass of ``resize_image`` produces; the last is the output.

    A side already at ``size`` needs no pass. When either pass order keeps the
    intermediate within the input's or the output's size, Pillow resizes in one call
    (its order depends on its version) and the larger intermediate is listed; otherwise
    the pass that shrinks the most runs first, one axis per call.

    Args:
        shape: ``(H, W)`` of the input.
        size: Side of the square output.

    Returns:
        One or two ``(rows, columns)`` shapes.
    """
    rows, columns = (int(side) for side in shape)
    if size in (rows, columns):
        return ((size, size),)
    columns_first, rows_first = (rows, size), (size, columns)
    smaller, larger = sorted((columns_first, rows_first), key=lambda grid: grid[0] * grid[1])
    return ((smaller if _ordered(shape, size) else larger), (size, size))


_FLOAT32 = 4
_FLOAT64 = 8
_BOOL = 1
# heatmap_overlay (onnx_classifier) holds about this many float64 values per CAM pixel at
# its peak (15 measured): the greyscale, the scaled map, its weight, RGB colour and blend.
_OVERLAY_FLOAT64_PER_PIXEL = 16


def plan_radiograph(
    shape: Sequence[int],
    size: int,
    classes: int,
    *,
    channels: int = 1,
    input_dtype: np.dtype[Any] | type[np.generic] = np.float32,
) -> WorkPlan:
    """The grids and memory of classifying one radiograph and drawing one of its heatmaps.

    Nothing is allocated. Stages: resizing (the float32 input, Pillow's copy, its
    intermediate and the output), the network (its input and ``classes`` CAMs of
    ``size x size``; the network's own activations depend on ``size`` only and are not
    counted) and one heatmap overlay (rendered one label at a time).

    Args:
        shape: ``(H, W)`` of the radiograph.
        size: The network's input side.
        classes: Labels (one CAM each).
        channels: Input channels the network takes (the image is repeated).
        input_dtype: The radiograph array's type.

    Returns:
        The plan; ``check_work`` compares it with the limits.
    """
    rows, columns = (int(side) for side in shape)
    pixels = rows * columns
    itemsize = np.dtype(input_dtype).itemsize
    held = ("radiograph", pixels * itemsize)
    cast = ("radiograph in float32", 0 if np.dtype(input_dtype) == np.float32 else pixels * 4)
    passes = resize_passes(shape, size)
    grids = tuple(
        Grid(f"resizing {rows} x {columns} to {size} x {size} (pass {index})", grid)
        for index, grid in enumerate(passes, start=1)
    )
    out = size * size
    largest_pass = max(r * c for r, c in passes)
    resizing = (
        held,
        cast,
        ("finite check", pixels * _BOOL),
        ("Pillow's copy", pixels * _FLOAT32),
        ("resize passes", (largest_pass + out) * _FLOAT32),
        ("resized and standardised copies", 3 * out * _FLOAT32),
    )
    cams = ("class activation maps", classes * out * _FLOAT32)
    stages = (
        Stage("resizing", resizing),
        Stage(
            "running the network",
            (held, ("network input", (channels + 1) * out * _FLOAT32), cams),
        ),
        Stage(
            "drawing a heatmap",
            (
                held,
                cams,
                *resizing[3:],
                ("overlay", out * _OVERLAY_FLOAT64_PER_PIXEL * _FLOAT64),
            ),
        ),
    )
    return WorkPlan(grids, None, stages)


def check_radiograph(
    pixels: NDArray[Any], size: int, classes: int, limits: WorkLimits, *, channels: int = 1
) -> None:
    """Refuse a radiograph whose classification would exceed ``limits``; allocates nothing.

    An array that is not 2D is left to ``prepare_image``, whose error says so.

    Raises:
        WorkLimitError: A resize pass or the memory exceed their limit.
    """
    if pixels.ndim != _IMAGE_RANK:
        return
    plan = plan_radiograph(pixels.shape, size, classes, channels=channels, input_dtype=pixels.dtype)
    check_work(plan, limits)


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
    pixels: NDArray[np.floating] | NDArray[np.integer],
    size: int,
    *,
    standardize: bool = False,
    image_step: ImageStep | None = None,
) -> FloatArray:
    """Check a ``[0, 1]`` radiograph and resize it (then the project's step, then standardise).

    Args:
        pixels: ``(H, W)`` intensities in ``[0, 1]``.
        size: Side of the square network input.
        standardize: Also standardise per image (see ``standardize_image``).
        image_step: The project's image step (``preprocessing.image_step: project``), on
            the resized image; None: the kind's resize alone.

    Returns:
        ``(size, size)`` float32.

    Raises:
        ValueError: If ``pixels`` is not a finite 2D image with values in ``[0, 1]``, or
            the project's step changes the shape or returns non-finite values.
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
    if image_step is not None:
        resized = checked_image_step(image_step, resized)
    return standardize_image(resized) if standardize else resized


def to_model_input(
    pixels: NDArray[np.floating] | NDArray[np.integer],
    size: int,
    *,
    standardize: bool = False,
    image_step: ImageStep | None = None,
) -> FloatArray:
    """One radiograph as the network's input tensor ``(1, 1, size, size)`` float32.

    Args:
        pixels: ``(H, W)`` intensities in ``[0, 1]``.
        size: Side of the square network input.
        standardize: Also standardise per image.
        image_step: The project's image step, or None (see ``prepare_image``).

    Returns:
        ``(1, 1, size, size)`` float32, C-contiguous.

    Raises:
        ValueError: As ``prepare_image``.
    """
    prepared = prepare_image(pixels, size, standardize=standardize, image_step=image_step)
    return prepared[np.newaxis, np.newaxis]


def to_model_batch(
    images: Sequence[NDArray[np.floating] | NDArray[np.integer]],
    size: int,
    *,
    standardize: bool = False,
    image_step: ImageStep | None = None,
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
            prepared.append(
                prepare_image(pixels, size, standardize=standardize, image_step=image_step)
            )
        except ValueError as exc:
            raise ValueError(f"image {index}: {exc}") from None
    return np.stack(prepared)[:, np.newaxis]
