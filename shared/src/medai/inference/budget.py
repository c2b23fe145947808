"""What one prediction will cost, planned from the image header and refused before any work.

Threat model: an upload is small, but its header decides the work. Eight voxels a side
declared 100 mm apart become 468^3 voxels at 1.5 mm (gigabytes, a thousand windows);
1e4 mm becomes more voxels than any machine has bytes. The upload layer bounds the
*input* grid only, so every grid a prediction will produce (reorientation, respacing,
the padded sliding-window grid, the logits resampled back), the number of windows and
the float32 arrays held at once are computed here from shape and affine alone, and
``check_work`` refuses what exceeds the configured ``limits`` (``WorkLimits``) with a
``WorkLimitError`` naming the limit and the figures. A refusal costs microseconds.

The memory model counts the arrays each stage holds at once, as the numpy path
(``medai.inference``, the ONNX server) and MONAI (the torch path) allocate them; the
network's own activations are not counted: they depend on the patch and batch sizes of
the config, never on the request.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np
from numpy.typing import NDArray

from medai.config.sections import WorkLimits
from medai.inference.grid import (
    GridOverflowError,
    ResamplePlan,
    Shape3,
    SingularAffineError,
    plan_resample,
    reoriented_grid,
    spacing_grid,
    voxel_count,
)
from medai.inference.sliding_window import padded_size, window_counts
from medai.io.errors import MedicalImageError

Backend = Literal["numpy", "monai"]
"""Which implementation runs the chain: ``medai.inference`` (ONNX server) or MONAI (torch)."""

DEFAULT_INPUT_NAME: Final = "input"
"""How a refusal names an image that came without a path (an upload, an array)."""

GRID_LIMIT: Final = "limits.max_grid_voxels"
MEMORY_LIMIT: Final = "limits.max_memory_mb"
WINDOWS_LIMIT: Final = "limits.max_windows"

_FLOAT32 = 4
_FLOAT64 = 8
_INT64 = 8
_BOOL = 1
_UINT8 = 1
_MEBIBYTE = 1 << 20
_PLAIN_DIGITS = 10**12
_FLOAT_DIGITS = 10**300

__all__ = [
    "DEFAULT_INPUT_NAME",
    "Grid",
    "Stage",
    "WindowPlan",
    "WorkLimitError",
    "WorkPlan",
    "check_work",
    "plan_volume_segmentation",
]


class WorkLimitError(MedicalImageError):
    """A prediction refused because its plan exceeds a work limit (``limits.*``).

    A ``MedicalImageError``: the image is what cannot be used, so the command line prints
    it as one line (exit 2) and callers that catch bad input catch it too. ``reason``
    holds technical figures only (shapes, spacings, counts), never patient data, so a
    server can show it to the client.

    Attributes:
        limit: The config key of the limit exceeded, e.g. ``limits.max_grid_voxels``.
    """

    def __init__(
        self, reason: str, limit: str, path: str | os.PathLike[str] = DEFAULT_INPUT_NAME
    ) -> None:
        """Store the limit's key with the path and reason.

        Args:
            reason: What the plan needs and what the limit allows.
            limit: The config key of the limit.
            path: The image refused; a neutral name when it has no path.
        """
        self.limit = limit
        super().__init__(path, reason)

    def for_path(self, path: str | os.PathLike[str]) -> WorkLimitError:
        """The same refusal naming the file it was about (a local file, never an upload)."""
        return WorkLimitError(self.reason, self.limit, path)

    def __reduce__(self) -> tuple[type[WorkLimitError], tuple[str, str, str]]:  # type: ignore[override]
        """Rebuild from (reason, limit, path) so the error survives pickling."""
        return type(self), (self.reason, self.limit, str(self.path))


@dataclass(frozen=True)
class Grid:
    """The output grid of one step.

    Attributes:
        what: The step, as a message names it ("resampling to 1.5 x 1.5 x 1.5 mm spacing").
        shape: Its size per axis; None when too large for float64 to count.
    """

    what: str
    shape: tuple[int, ...] | None

    @property
    def voxels(self) -> int | None:
        """Voxels (or pixels) of the grid, exact; None when too large to count."""
        return None if self.shape is None else voxel_count(self.shape)


@dataclass(frozen=True)
class WindowPlan:
    """The sliding-window patches of one prediction.

    Attributes:
        grid: The (padded) grid the windows cover.
        roi: The window size.
        overlap: The overlap between neighbouring windows.
        counts: Windows per axis.
    """

    grid: tuple[int, ...]
    roi: tuple[int, ...]
    overlap: float | tuple[float, ...]
    counts: tuple[int, ...]

    @property
    def total(self) -> int:
        """The number of windows the network runs on."""
        return math.prod(self.counts)


@dataclass(frozen=True)
class Stage:
    """The arrays held at once during one step.

    Attributes:
        what: The step ("sliding-window inference").
        arrays: ``(name, bytes)`` of each array alive at its peak.
    """

    what: str
    arrays: tuple[tuple[str, int], ...]

    @property
    def nbytes(self) -> int:
        """Bytes held at the step's peak."""
        return sum(size for _, size in self.arrays)


@dataclass(frozen=True)
class WorkPlan:
    """Every grid, the windows and the memory stages of one prediction.

    Attributes:
        grids: Output grid of every step, in the order they run.
        windows: The sliding-window patches, if the model runs on windows.
        stages: Arrays held at once, per step; empty when a grid is too large to count.
    """

    grids: tuple[Grid, ...]
    windows: WindowPlan | None
    stages: tuple[Stage, ...]

    def peak(self) -> Stage | None:
        """The stage that holds the most memory (None when there are no stages)."""
        return max(self.stages, key=lambda stage: stage.nbytes, default=None)


def _figure(count: int) -> str:
    """An exact count a person can read: ``468``, ``102,503,232``, ``1.5e+14``, ``~10^300``."""
    if count < _PLAIN_DIGITS:
        return f"{count:,}"
    if count < _FLOAT_DIGITS:
        return f"{float(count):.2g}"
    return f"~10^{len(str(count)) - 1}"


def _shape_text(shape: Sequence[int]) -> str:
    return " x ".join(_figure(int(size)) for size in shape)


def _millimetres(values: Sequence[float]) -> str:
    return " x ".join(f"{float(v):g}" for v in values)


def check_work(plan: WorkPlan, limits: WorkLimits) -> None:
    """Refuse a plan that exceeds ``limits``: grids first, then windows, then memory.

    Args:
        plan: The prediction's plan (e.g. from ``plan_volume_segmentation``).
        limits: The configured limits (``settings.limits``).

    Raises:
        WorkLimitError: The first limit exceeded, with the step, its figures and the limit.
    """
    maximum = limits.max_grid_voxels
    for grid in plan.grids:
        voxels = grid.voxels
        if grid.shape is None or voxels is None:
            raise WorkLimitError(
                f"{grid.what} gives a grid too large to count; the limit is "
                f"{_figure(maximum)} voxels ({GRID_LIMIT})",
                GRID_LIMIT,
            )
        if voxels > maximum:
            raise WorkLimitError(
                f"{grid.what} gives a grid of {_shape_text(grid.shape)} = {_figure(voxels)} "
                f"voxels; the limit is {_figure(maximum)} voxels ({GRID_LIMIT})",
                GRID_LIMIT,
            )
    windows = plan.windows
    if windows is not None and windows.total > limits.max_windows:
        overlap = (
            f"{windows.overlap:g}"
            if isinstance(windows.overlap, float | int)
            else _millimetres(windows.overlap)
        )
        raise WorkLimitError(
            f"sliding-window inference over the {_shape_text(windows.grid)} grid with "
            f"{_shape_text(windows.roi)} patches (overlap {overlap}) takes "
            f"{_shape_text(windows.counts)} = {_figure(windows.total)} windows; the limit is "
            f"{_figure(limits.max_windows)} windows ({WINDOWS_LIMIT})",
            WINDOWS_LIMIT,
        )
    peak = plan.peak()
    if peak is not None and peak.nbytes > limits.max_memory_mb * _MEBIBYTE:
        raise WorkLimitError(
            f"the prediction would hold about {_figure(-(-peak.nbytes // _MEBIBYTE))} MB at "
            f"once ({peak.what}); the limit is {_figure(limits.max_memory_mb)} MB "
            f"({MEMORY_LIMIT})",
            MEMORY_LIMIT,
        )


# ----------------------------------------------------------------- a volume's segmentation


@dataclass(frozen=True)
class _Geometry:
    """The grids of the segmentation chain, as the memory model needs them."""

    input_shape: Shape3
    input_affine: NDArray[np.float64]
    oriented_shape: Shape3
    oriented_affine: NDArray[np.float64]
    model_shape: Shape3
    model_affine: NDArray[np.float64]
    padded_shape: tuple[int, ...]
    reoriented: bool

    def respacing(self) -> ResamplePlan:
        return plan_resample(
            self.oriented_shape, self.oriented_affine, self.model_affine, self.model_shape
        )

    def back(self) -> ResamplePlan:
        return plan_resample(
            self.model_shape, self.model_affine, self.input_affine, self.input_shape
        )


@dataclass(frozen=True)
class _Chain:
    """What the memory model needs besides the grids."""

    classes: int
    channels: int
    zscore_first: bool
    roi_voxels: int
    sw_batch_size: int
    input_bytes: int
    input_float32: bool
    project_first: bool = False
    """A project's normaliser runs first, on the whole image on the input grid."""


def _f32(name: str, voxels: int, copies: int = 1) -> tuple[str, int]:
    return name, voxels * _FLOAT32 * copies


def _pass_peak(plan: ResamplePlan, first_input: int) -> int:
    """Bytes of the largest 1D pass: its input and the two gathered arrays it writes."""
    peak = 0
    previous = first_input
    for shape in plan.intermediate_shapes():
        voxels = voxel_count(shape)
        peak = max(peak, previous + 2 * voxels * _FLOAT32)
        previous = voxels * _FLOAT32
    return peak


def _numpy_stages(geometry: _Geometry, chain: _Chain) -> tuple[Stage, ...]:
    """The arrays ``OnnxSegmenter.segment`` holds, step by step (``medai.inference``)."""
    n_in = voxel_count(geometry.input_shape)
    n_model = voxel_count(geometry.model_shape)
    n_padded = voxel_count(geometry.padded_shape)
    k, c = chain.classes, chain.channels
    held_input = ("input volume", chain.input_bytes)
    project: tuple[Stage, ...] = ()
    if chain.project_first:  # its float32 result, and as much again for its own work
        project = (
            Stage(
                "the project's normaliser on the input grid",
                (held_input, _f32("normalised image and its work", n_in, 2 * c)),
            ),
        )
        copy = n_in * c * _FLOAT32
        held_input = ("input volume and its normalised copy", chain.input_bytes + copy)
    cast = 0 if chain.input_float32 and not chain.project_first else n_in * _FLOAT32
    respacing = geometry.respacing()
    if respacing.unchanged:  # the input itself (a view), or its float32 copy
        respaced, work = cast, cast
    elif respacing.separable:  # the last pass's result is the respaced image
        respaced, work = n_model * _FLOAT32, cast + _pass_peak(respacing, 0)
    else:  # scipy reads the input as it is and writes into one output
        respaced = work = n_model * _FLOAT32
    back = geometry.back()
    if back.unchanged:  # a view of the logits
        back_work = 0
    elif back.separable:
        back_work = _pass_peak(back, 0)
    else:
        back_work = n_in * _FLOAT32
    padding = n_padded * _FLOAT32 * c if n_padded != n_model else 0
    windows = chain.roi_voxels * chain.sw_batch_size
    image = _f32("windowed image", n_model, c)
    logits = _f32(f"logits of {k} classes", n_padded, k)
    # Each channel is respaced and normalised into its slot of the model input in turn.
    slots = _f32("model input of the other channels", n_model, c - 1)
    zscore: tuple[Stage, ...] = ()
    if chain.zscore_first:  # the channel's copy, its nonzero mask, values and scores
        zscore = (
            Stage(
                "z-score of one channel on the input grid",
                (held_input, slots, _f32("z-scored channel", n_in, 3), ("mask", n_in * _BOOL)),
            ),
        )
        work += n_in * _FLOAT32  # the z-scored channel is what is respaced
    return (
        *project,
        *zscore,
        Stage("respacing", (held_input, slots, ("respacing", work))),
        Stage(
            "intensity windowing",
            (
                held_input,
                ("respaced image", respaced),
                image,
                # With several channels each is normalised apart, then copied into its slot.
                _f32("normalised channel", n_model, 1 if c > 1 else 0),
            ),
        ),
        Stage(
            "sliding-window inference",
            (
                held_input,
                image,
                ("padded image", padding),
                logits,
                _f32("weight sum", n_padded),
                _f32("window batch and predictions", windows, c + 2 * k),
            ),
        ),
        Stage(
            "resampling the logits back onto the input grid",
            (
                held_input,
                logits,
                ("label map", n_in * _UINT8),
                _f32("best logit", n_in),
                ("one class on the input grid", max(back_work, n_in * (_FLOAT32 + _BOOL))),
            ),
        ),
    )


def _monai_resampling(
    what: str, held: tuple[tuple[str, int], ...], n_src: int, n_dst: int, channels: int
) -> tuple[Stage, ...]:
    """MONAI's ``SpatialResample``: float64 copy, ``affine_grid``, ``grid_sample``, cast back.

    ``affine_grid`` holds a homogeneous base grid (4 values a voxel) beside the sampling
    grid (3); ``grid_sample`` writes float64, which is then cast to float32.
    """
    source = ("source in float64", n_src * channels * _FLOAT64)
    result = ("result in float64", n_dst * channels * _FLOAT64)
    return (
        Stage(
            f"{what} (sampling grid)",
            (*held, source, ("base and sampling grids", n_dst * 7 * _FLOAT64)),
        ),
        Stage(
            f"{what} (sampling)", (*held, source, ("sampling grid", n_dst * 3 * _FLOAT64), result)
        ),
        Stage(
            f"{what} (cast to float32)", (*held, source, result, _f32("result", n_dst, channels))
        ),
    )


def _monai_stages(geometry: _Geometry, chain: _Chain) -> tuple[Stage, ...]:
    """The arrays ``Segmenter.segment`` holds, step by step (MONAI transforms and inferer)."""
    n_in = voxel_count(geometry.input_shape)
    n_model = voxel_count(geometry.model_shape)
    n_padded = voxel_count(geometry.padded_shape)
    k, c = chain.classes, chain.channels
    held: tuple[tuple[str, int], ...] = (
        ("input volume", chain.input_bytes),
        ("input tensor", 0 if chain.input_float32 else n_in * _FLOAT32 * c),
    )
    if geometry.reoriented:  # torch.flip copies; the un-flipped tensor is still referenced
        held = (*held, _f32("reoriented image", n_in, c))
    if geometry.respacing().unchanged:
        respacing: tuple[Stage, ...] = (Stage("respacing", (*held, _f32("respaced", n_model, c))),)
    else:
        respacing = _monai_resampling("respacing", held, n_in, n_model, c)
    held = held[:2]
    image = _f32("windowed image", n_model, c)
    logits = _f32(f"logits of {k} classes", n_padded, k)
    back_held = (*held, image, logits, _f32("cropped logits", n_model, k))
    if geometry.back().unchanged:
        back: tuple[Stage, ...] = ()
    else:
        back = _monai_resampling(
            "resampling the logits back onto the input grid", back_held, n_model, n_in, k
        )
    windows = chain.roi_voxels * chain.sw_batch_size
    return (
        *respacing,
        Stage("intensity windowing", (*held, _f32("respaced image and window", n_model, 3 * c))),
        Stage(
            "sliding-window inference",
            (
                *held,
                image,
                _f32("padded image", n_padded, c),
                logits,
                _f32("count map", n_padded),
                _f32("cropped logits", n_model, k),
                _f32("window batch and predictions", windows, c + 2 * k),
            ),
        ),
        *back,
        Stage(
            "the argmax over classes on the input grid",
            (
                *back_held,
                _f32("logits on the input grid", n_in, k),
                ("argmax", n_in * (_INT64 + _UINT8)),
            ),
        ),
    )


def plan_volume_segmentation(
    shape: Sequence[int],
    affine: NDArray[Any],
    *,
    orientation: str,
    target_spacing: Sequence[float],
    patch_size: Sequence[int],
    overlap: float,
    sw_batch_size: int,
    classes: int,
    input_dtype: np.dtype[Any] | type[np.generic] = np.float32,
    backend: Backend = "numpy",
    channels: int = 1,
    normalize: Literal["window", "zscore", "project"] = "window",
) -> WorkPlan:
    """Plan reorient -> respace -> window -> sliding window -> resample back -> argmax.

    Nothing is allocated: the grids come from ``medai.inference.grid`` (the functions the
    numpy path runs on, which reproduce MONAI's), the windows are counted, not listed.

    Args:
        shape: The input volume's shape.
        affine: Its voxel-to-world matrix.
        orientation: Axis codes the model expects, e.g. ``"RAS"``.
        target_spacing: The model's voxel size in millimetres.
        patch_size: The sliding-window size.
        overlap: The sliding-window overlap.
        sw_batch_size: Windows per network call.
        classes: Channels of the logits (background included).
        input_dtype: The input array's type (float32 is used as is, others are cast).
        backend: ``numpy`` (``OnnxSegmenter``) or ``monai`` (``Segmenter``).
        channels: Input channels (e.g. four MRI contrasts), each on ``shape``'s grid.
        normalize: ``window`` (after respacing), ``zscore`` (on the input grid, before) or
            ``project`` (the project's normaliser on the whole input, before).

    Returns:
        The plan; ``check_work`` compares it with the limits.

    Raises:
        MedicalImageError: If the affine places no volume in space (singular).
        ValueError: If a setting is malformed.
    """
    input_shape = _shape3(shape)
    dtype = np.dtype(input_dtype)
    if channels < 1:
        raise ValueError(f"channels must be at least 1, got {channels}")
    spacing_step = f"resampling to {_millimetres(target_spacing)} mm spacing"
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        try:
            oriented_shape, oriented_affine = reoriented_grid(input_shape, affine, orientation)
            model_shape, model_affine = spacing_grid(
                oriented_shape, oriented_affine, target_spacing
            )
        except SingularAffineError as exc:
            raise MedicalImageError(DEFAULT_INPUT_NAME, f"cannot be resampled: {exc}") from None
        except GridOverflowError:
            overflow = (
                Grid(f"reorienting to {orientation}", oriented_shape),
                Grid(spacing_step, None),
            )
            return WorkPlan(overflow, None, ())
        roi = tuple(
            int(r) if r > 0 else size for r, size in zip(patch_size, model_shape, strict=True)
        )
        padded = padded_size(model_shape, roi)
        geometry = _Geometry(
            input_shape,
            np.asarray(affine, dtype=np.float64),
            oriented_shape,
            oriented_affine,
            model_shape,
            model_affine,
            padded,
            reoriented=oriented_shape != input_shape
            or not np.array_equal(oriented_affine, np.asarray(affine, dtype=np.float64)),
        )
        pad_text = f"padding to the {_shape_text(roi)} patch"
        grids = (
            Grid(f"reorienting to {orientation}", oriented_shape),
            Grid(spacing_step, model_shape),
            Grid(pad_text, padded),
            Grid("resampling the logits back onto the input grid", input_shape),
        )
        windows = WindowPlan(padded, roi, overlap, window_counts(padded, roi, overlap))
        chain = _Chain(
            classes=classes,
            channels=channels,
            zscore_first=normalize == "zscore",
            project_first=normalize == "project",
            roi_voxels=voxel_count(roi),
            sw_batch_size=sw_batch_size,
            input_bytes=voxel_count(input_shape) * dtype.itemsize * channels,
            input_float32=dtype == np.float32,
        )
        stages = (_numpy_stages if backend == "numpy" else _monai_stages)(geometry, chain)
    return WorkPlan(grids, windows, stages)


def _shape3(shape: Sequence[int]) -> Shape3:
    if len(shape) != len("xyz"):
        raise ValueError(f"expected a 3D shape, got {tuple(shape)}")
    x, y, z = (int(s) for s in shape)
    return x, y, z
