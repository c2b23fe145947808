"""Segmentation with an exported ONNX network: the serving path, without torch or MONAI.

``medai.segmentation.segmenter.Segmenter`` needs torch and MONAI, whose import alone takes
tens of seconds; an inference server has to be ready in a few. ``OnnxSegmenter`` does the
same steps with numpy, scipy and ONNX Runtime (``medai.inference``): reorient, respace,
window the intensities, sliding-window logits, resample the logits back onto the input
grid, argmax. Its masks match ``Segmenter.segment`` for the same network (tested for
parity). Before any of it, the whole chain is planned from the volume's shape and affine
and refused past ``limits`` (``medai.inference.budget``): a header declaring huge voxels
costs microseconds, not gigabytes.

Only ``medai.segmentation.settings``, ``medai.io`` and ``medai.inference`` may be
imported here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort  # type: ignore[import-untyped, unused-ignore]
from numpy.typing import NDArray

from medai.config.sections import WorkLimits
from medai.inference import (
    hu_window,
    reorient_to,
    resample_to_grid,
    resample_to_spacing,
    sliding_window_predict,
)
from medai.io import Volume
from medai.segmentation.settings import InferenceSettings, PreprocessingSettings
from medai.segmentation.work_plan import PlannedSegmentation

FloatArray = NDArray[np.float32]
_INPUT_RANK = 5


@dataclass(frozen=True)
class ModelInput:
    """A volume in the network's geometry, ready for sliding-window inference.

    Attributes:
        image: ``(X, Y, Z)`` float32 windowed intensities in ``[0, 1]``.
        affine: Voxel-to-world matrix of ``image`` (target orientation and spacing).
    """

    image: FloatArray
    affine: NDArray[np.float64]


class OnnxSegmenter(PlannedSegmentation):
    """Turns a volume into a label map with an ONNX network on ONNX Runtime (CPU).

    The network runs in the training geometry; its logits are resampled back so the mask
    overlays the input voxel for voxel and can be saved with the input's affine.
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
    ) -> None:
        """Load the network once; every ``segment`` call reuses the session.

        Args:
            onnx_path: Exported network, input ``(N, 1, X, Y, Z)`` -> logits ``(N, K, X, Y, Z)``.
            prep: The preprocessing the network was trained with.
            inference: Sliding-window settings.
            intra_op_threads: Threads per operator; None lets ONNX Runtime choose
                (all cores), a server running several workers should divide them.
            limits: The work one volume may cause (``settings.limits``); None: the defaults.
            classes: ``K``, for a graph that leaves it free; None reads it from the graph.

        Raises:
            ValueError: If the model does not take exactly one 5D input, or its number of
                classes is neither fixed in the graph nor given.
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
        self.prep = prep
        self.inference = inference
        self.limits = limits or WorkLimits()

    def predict_windows(self, windows: NDArray[Any]) -> FloatArray:
        """Logits of a batch of ``(N, 1, *patch_size)`` windows (the sliding-window predictor)."""
        batch = np.ascontiguousarray(windows, dtype=np.float32)
        (logits,) = self.session.run([self.output_name], {self.input_name: batch})
        return np.asarray(logits, dtype=np.float32)

    def preprocess(self, volume: Volume) -> ModelInput:
        """Reorient, respace (linear) and window exactly as the MONAI training chain does."""
        array, affine = reorient_to(volume.array, volume.affine, self.prep.orientation)
        resampled, affine = resample_to_spacing(array, affine, self.prep.target_spacing, order=1)
        image = hu_window(resampled, self.prep.intensity_min, self.prep.intensity_max)
        return ModelInput(image=image, affine=affine)

    def model_logits(self, model_input: ModelInput) -> FloatArray:
        """Sliding-window logits ``(K, X, Y, Z)`` on the model grid."""
        return sliding_window_predict(
            model_input.image[np.newaxis],
            self.prep.patch_size,
            self.predict_windows,
            sw_batch_size=self.inference.sw_batch_size,
            overlap=self.inference.overlap,
            mode=self.inference.blend_mode,
        )

    def logits(self, volume: Volume) -> FloatArray:
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

    def segment(self, volume: Volume) -> NDArray[np.uint8]:
        """Label map (uint8) with the shape of ``volume.array``.

        Same result as ``logits(volume).argmax(axis=0)`` (first class wins ties), but the
        classes are resampled one at a time against a running maximum, so a large input
        grid holds two float32 volumes instead of one per class.

        Raises:
            WorkLimitError: The volume's plan exceeds ``limits`` (checked before any work).
        """
        self.check(volume)
        model_input = self.preprocess(volume)
        on_model_grid = self.model_logits(model_input)
        model_affine = model_input.affine
        del model_input  # the windowed image is not needed on the way back
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
