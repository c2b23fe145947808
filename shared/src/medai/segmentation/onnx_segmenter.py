"""Segmentation with an exported ONNX network: the serving path, without torch or MONAI.

``medai.segmentation.segmenter.Segmenter`` needs torch and MONAI, whose import alone takes
tens of seconds; an inference server has to be ready in a few. ``OnnxSegmenter`` does the
same steps with numpy, scipy and ONNX Runtime (``medai.inference``): reorient and respace
each channel, normalise its intensities (``preprocessing.normalize``: window or z-score),
sliding-window logits, resample the logits back onto the input grid, then argmax (a
softmax model) or, for a region model (``Regions``), a sigmoid per region painted into a
label map as ``label_map_from_regions`` does. Its masks match ``Segmenter.segment`` for
the same network (tested for parity). Before any of it, the whole chain, every channel
counted, is planned from the volume's shape and affine and refused past ``limits``
(``medai.inference.budget``): a header declaring huge voxels costs microseconds, not
gigabytes.

Only ``medai.segmentation.settings``, ``medai.segmentation.regions``, ``medai.io`` and
``medai.inference`` may be imported here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort  # type: ignore[import-untyped, unused-ignore]
from numpy.typing import NDArray
from scipy.special import expit

from medai.config.sections import WorkLimits
from medai.inference import (
    reorient_to,
    resample_to_grid,
    resample_to_spacing,
    sliding_window_predict,
)
from medai.inference.budget import DEFAULT_INPUT_NAME
from medai.inference.normalize import normalize_intensity, zscore_nonzero
from medai.io import ChannelVolume, Volume
from medai.io.channels import ChannelCountError
from medai.segmentation.extensions import IntensityNormalizer
from medai.segmentation.regions import Regions
from medai.segmentation.settings import InferenceSettings, PreprocessingSettings
from medai.segmentation.work_plan import PlannedSegmentation, channels_of

FloatArray = NDArray[np.float32]
_INPUT_RANK = 5


@dataclass(frozen=True)
class ModelInput:
    """A volume in the network's geometry, ready for sliding-window inference.

    Attributes:
        image: ``(C, X, Y, Z)`` float32 normalised intensities (``preprocessing.normalize``).
        affine: Voxel-to-world matrix of ``image`` (target orientation and spacing).
    """

    image: FloatArray
    affine: NDArray[np.float64]


class OnnxSegmenter(PlannedSegmentation):
    """Turns a volume into a label map with an ONNX network on ONNX Runtime (CPU).

    The network runs in the training geometry; its logits are resampled back so the mask
    overlays the input voxel for voxel and can be saved with the input's affine. A
    one-channel model takes a ``Volume``; a ``C``-channel one a ``ChannelVolume`` of ``C``
    channels on one grid.
    """

    backend = "numpy"

    def __init__(
        self,
        onnx_path: Path,
        prep: PreprocessingSettings,
        inference: InferenceSettings,
        *,
        intra_op_threads: int | None = None,
        limits: WorkLimits | None = None,
        classes: int | None = None,
        regions: Regions | None = None,
        channels: int | None = None,
        normalizer: IntensityNormalizer | None = None,
    ) -> None:
        """Load the network once; every ``segment`` call reuses the session.

        Args:
            onnx_path: Exported network, input ``(N, C, X, Y, Z)`` -> logits ``(N, K, X, Y, Z)``.
            prep: The preprocessing the network was trained with.
            inference: Sliding-window settings.
            intra_op_threads: Threads per operator; None lets ONNX Runtime choose
                (all cores), a server running several workers should divide them.
            limits: The work one volume may cause (``settings.limits``); None: the defaults.
            classes: ``K``, for a graph that leaves it free; None reads it from the graph.
            regions: The regions of a sigmoid model (one output channel each); None for a
                softmax model (argmax over ``K`` classes).
            channels: ``C``, for a graph that leaves it free; None reads it from the
                graph (1 when the graph does not say).
            normalizer: The project's normaliser, for ``prep.normalize == "project"``.

        Raises:
            ValueError: If the model does not take exactly one 5D input, its number of
                classes is neither fixed in the graph nor given, or the graph's channels
                or outputs differ from ``channels`` or ``regions``.
        """
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if intra_op_threads is not None:
            options.intra_op_num_threads = intra_op_threads
        self.session = ort.InferenceSession(
            str(onnx_path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        inputs = self.session.get_inputs()
        if len(inputs) != 1 or len(inputs[0].shape) != _INPUT_RANK:
            shapes = [(i.name, i.shape) for i in inputs]
            raise ValueError(f"{onnx_path}: expected one 5D input (N, C, X, Y, Z), got {shapes}")
        self.input_name: str = inputs[0].name
        self.channels: int = _fixed_axis(
            onnx_path, f"channels (axis 1 of {inputs[0].name!r})", inputs[0].shape[1], channels
        )
        output = self.session.get_outputs()[0]
        self.output_name: str = output.name
        graph_classes = output.shape[1] if len(output.shape) > 1 else None
        if classes is not None:
            self.classes: int = classes
        elif isinstance(graph_classes, int):
            self.classes = graph_classes
        else:
            raise ValueError(
                f"{onnx_path}: the number of classes (axis 1 of {output.name!r}) is not fixed "
                f"in the graph ({output.shape}); pass classes"
            )
        if regions is not None and len(regions) != self.classes:
            raise ValueError(
                f"{onnx_path}: the graph has {self.classes} output channels but the model's "
                f"regions are {len(regions)} ({', '.join(regions.names)})"
            )
        if prep.normalize == "project" and normalizer is None:
            raise ValueError(
                f"{onnx_path}: the model was trained with the project's own normalizer "
                "(preprocessing.normalize: project) and none was given"
            )
        self.regions = regions
        self.prep = prep
        self.inference = inference
        self.normalizer = normalizer if prep.normalize == "project" else None
        self.limits = limits or WorkLimits()

    def predict_windows(self, windows: NDArray[Any]) -> FloatArray:
        """Logits of a batch of ``(N, C, *patch_size)`` windows (the sliding-window predictor)."""
        batch = np.ascontiguousarray(windows, dtype=np.float32)
        (logits,) = self.session.run([self.output_name], {self.input_name: batch})
        return np.asarray(logits, dtype=np.float32)

    def preprocess(self, volume: Volume | ChannelVolume) -> ModelInput:
        """Reorient, respace (linear) and normalise exactly as the MONAI training chain does.

        One channel at a time, each normalised on its own (the window is the same for all;
        z-score is per channel), so the work in flight is one channel's. A window is
        applied after respacing, z-score before it: "nonzero" must be decided where the
        background is exactly zero, on the input grid, not after interpolation has
        smeared the border (where numpy and MONAI differ in the last bits).

        Raises:
            ChannelCountError: ``volume`` has another number of channels than the model.
        """
        self._require_channels(volume)
        arrays = volume.array if isinstance(volume, ChannelVolume) else volume.array[np.newaxis]
        if self.normalizer is not None:  # the project's, on the whole input grid, first
            arrays = _project_normalised(self.normalizer, arrays)
        image: FloatArray | None = None
        affine = volume.affine
        zscore_first = self.prep.normalize == "zscore"
        normalised_first = zscore_first or self.normalizer is not None
        for index, channel in enumerate(arrays):
            source = zscore_nonzero(channel[np.newaxis])[0] if zscore_first else channel
            oriented, oriented_affine = reorient_to(source, volume.affine, self.prep.orientation)
            resampled, affine = resample_to_spacing(
                oriented, oriented_affine, self.prep.target_spacing, order=1
            )
            del source, oriented
            normalised = (
                resampled[np.newaxis]
                if normalised_first
                else normalize_intensity(resampled[np.newaxis], "window", self.prep.window)
            )
            del resampled
            if len(arrays) == 1:
                image = normalised
                break
            if image is None:
                image = np.empty((len(arrays), *normalised.shape[1:]), dtype=np.float32)
            image[index] = normalised[0]
            del normalised
        if image is None:  # pragma: no cover - a ChannelVolume has at least one channel
            raise ValueError("no channels to preprocess")
        return ModelInput(image=image, affine=affine)

    def _require_channels(self, volume: Volume | ChannelVolume) -> None:
        count = channels_of(volume)
        if count != self.channels:
            raise ChannelCountError(
                DEFAULT_INPUT_NAME,
                f"has {count} channel(s); the model takes {self.channels}",
            )

    def model_logits(self, model_input: ModelInput) -> FloatArray:
        """Sliding-window logits ``(K, X, Y, Z)`` on the model grid."""
        return sliding_window_predict(
            model_input.image,
            self.prep.patch_size,
            self.predict_windows,
            sw_batch_size=self.inference.sw_batch_size,
            overlap=self.inference.overlap,
            mode=self.inference.blend_mode,
        )

    def logits(self, volume: Volume | ChannelVolume) -> FloatArray:
        """Logits ``(K, *volume.shape)`` on the input grid (linear, border values outside).

        Checked like ``segment``, whose memory the plan counts; this holds ``K`` float32
        volumes of the input's size instead of two.

        Raises:
            WorkLimitError: The volume's plan exceeds ``limits``.
        """
        self.check(volume)
        model_input = self.preprocess(volume)
        on_model_grid = self.model_logits(model_input)
        return resample_to_grid(
            on_model_grid, model_input.affine, volume.affine, volume.shape, order=1
        )

    def segment(self, volume: Volume | ChannelVolume) -> NDArray[np.uint8]:
        """Label map (uint8) on the grid of ``volume`` (its shape, its affine).

        A softmax model: the same result as ``logits(volume).argmax(axis=0)`` (first class
        wins ties), but the classes are resampled one at a time against a running maximum,
        so a large input grid holds two float32 volumes instead of one per class. A region
        model: ``label_map_from_regions(sigmoid(logits(volume)), regions)``, one region
        at a time for the same reason.

        Raises:
            WorkLimitError: The volume's plan exceeds ``limits`` (checked before any work).
            ChannelCountError: ``volume`` has another number of channels than the model.
        """
        self._require_channels(volume)
        self.check(volume)
        model_input = self.preprocess(volume)
        on_model_grid = self.model_logits(model_input)
        model_affine = model_input.affine
        del model_input  # the normalised image is not needed on the way back
        if self.regions is not None:
            return self._paint_regions(on_model_grid, model_affine, volume, self.regions)
        labels = np.zeros(volume.shape, dtype=np.uint8)
        best: FloatArray | None = None
        for label, channel in enumerate(on_model_grid):
            on_input_grid = resample_to_grid(
                channel[np.newaxis], model_affine, volume.affine, volume.shape, order=1
            )[0]
            if best is None:
                best = np.array(on_input_grid, dtype=np.float32, copy=True)
            else:
                wins = on_input_grid > best
                labels[wins] = label
                np.maximum(best, on_input_grid, out=best)
                del wins
            # Freed before the next class is resampled, as the budget's plan counts.
            del on_input_grid
        return labels

    @staticmethod
    def _paint_regions(
        on_model_grid: FloatArray,
        model_affine: NDArray[np.float64],
        volume: Volume | ChannelVolume,
        regions: Regions,
    ) -> NDArray[np.uint8]:
        """``label_map_from_regions`` of the sigmoid of each region's logits on the input grid.

        Region by region, painted in ``class_order`` (later wins), with the same strict
        ``probability > 0.5`` comparison, so the result is the same label map while at
        most one region's probabilities exist on the (possibly large) input grid.
        """
        labels = np.zeros(volume.shape, dtype=np.uint8)
        for channel, value in zip(on_model_grid, regions.class_order, strict=True):
            on_input_grid = resample_to_grid(
                channel[np.newaxis], model_affine, volume.affine, volume.shape, order=1
            )[0]
            # In place, unless the grids coincide and it is a view of the model's logits.
            shared = np.shares_memory(on_input_grid, on_model_grid)
            probabilities = on_input_grid.copy() if shared else on_input_grid
            del on_input_grid
            expit(probabilities, out=probabilities)
            labels[probabilities > REGION_THRESHOLD] = value
            del probabilities
        return labels


REGION_THRESHOLD = 0.5
"""A region is present where its probability is above this (``label_map_from_regions``')."""


def _project_normalised(normalizer: IntensityNormalizer, arrays: NDArray[Any]) -> FloatArray:
    """The project's normaliser on ``(C, X, Y, Z)``, checked to keep the shape.

    Raises:
        ValueError: it returned another shape (a project bug, named as such).
    """
    normalised = np.ascontiguousarray(normalizer(arrays), dtype=np.float32)
    if normalised.shape != arrays.shape:
        raise ValueError(
            f"the project's normalizer returned shape {normalised.shape} for an image of "
            f"shape {arrays.shape}; it must keep the shape"
        )
    return normalised


def _fixed_axis(onnx_path: Path, what: str, in_graph: object, given: int | None) -> int:
    """An axis size the graph fixes, or the one given, or 1; refuse the two disagreeing."""
    if isinstance(in_graph, int):
        if given is not None and given != in_graph:
            raise ValueError(f"{onnx_path}: the graph's {what} is {in_graph}, not {given}")
        return in_graph
    return given if given is not None else 1
