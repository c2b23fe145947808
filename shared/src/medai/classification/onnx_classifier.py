"""Classify a radiograph with an exported ``CamClassifier`` on ONNX Runtime: the serving path.

No torch, MONAI, MLflow, matplotlib or scikit-learn here (each costs seconds to import
and the server must start in a few): numpy, Pillow and ONNX Runtime only. The exported
graph (``medai.classification.export``) returns logits and class activation maps, which
equal Grad-CAM for this network, so the heatmaps need no backward pass.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort  # type: ignore[import-untyped, unused-ignore]
from numpy.typing import NDArray
from PIL import Image

from medai.classification.extensions import ImageStep
from medai.classification.preprocessing import check_radiograph, resize_image, to_model_batch
from medai.config.sections import WorkLimits

FloatArray = NDArray[np.float32]

INPUT_NAME = "image"
"""Name of the exported graph's input ``(N, C, S, S)``; ``export`` writes these names."""
OUTPUT_NAMES = ("logits", "cams")
_INPUT_RANK = 4
_MAP_RANK = 2

# Matplotlib's 'inferno' sampled at 17 equal steps (linear interpolation in between stays
# within 7/255 of the full map): perceptually uniform, readable in greyscale print.
_INFERNO_STOPS = np.array(
    [
        (0.001, 0.000, 0.014),
        (0.042, 0.028, 0.141),
        (0.129, 0.047, 0.291),
        (0.238, 0.037, 0.396),
        (0.342, 0.062, 0.429),
        (0.441, 0.099, 0.432),
        (0.541, 0.135, 0.415),
        (0.640, 0.171, 0.381),
        (0.736, 0.216, 0.330),
        (0.822, 0.275, 0.266),
        (0.894, 0.353, 0.194),
        (0.947, 0.449, 0.115),
        (0.978, 0.558, 0.035),
        (0.988, 0.675, 0.065),
        (0.975, 0.798, 0.206),
        (0.948, 0.917, 0.411),
        (0.988, 0.998, 0.645),
    ],
    dtype=np.float64,
)


@dataclass(frozen=True)
class ClassifierOutput:
    """The prediction for one radiograph.

    Attributes:
        probabilities: Sigmoid probability per label, in the model's label order.
        cams: ``(K, size, size)`` float32 class activation maps (= Grad-CAM up to scale),
            unnormalised and non-negative, in the label order.
    """

    probabilities: dict[str, float]
    cams: FloatArray


def sigmoid(logits: NDArray[np.floating]) -> NDArray[np.float64]:
    """Logistic function without overflow for large ``|logits|`` (via tanh)."""
    values = np.asarray(logits, dtype=np.float64)
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * values)), dtype=np.float64)


class OnnxClassifier:
    """Probabilities and CAMs of radiographs from an ONNX ``CamClassifier`` (CPU)."""

    def __init__(
        self,
        onnx_path: Path,
        image_size: int,
        labels: Sequence[str],
        *,
        intra_op_threads: int | None = None,
        standardize: bool = False,
        limits: WorkLimits | None = None,
        image_step: ImageStep | None = None,
    ) -> None:
        """Load the network once and check it fits ``image_size`` and ``labels``.

        Args:
            onnx_path: Exported network: ``image (N, 1, S, S)`` -> ``logits (N, K)``,
                ``cams (N, K, S, S)``.
            image_size: ``S``, the square size it was trained on.
            labels: The ``K`` label names, in the network's output order.
            intra_op_threads: Threads per operator; None lets ONNX Runtime choose (all
                cores), a server running several workers should divide them.
            standardize: Whether the network was trained on per-image standardised input.
            limits: The work one radiograph may cause (``settings.limits``); None: the
                defaults.
            image_step: The project's image step, for a network trained with it
                (``preprocessing.image_step: project``); None: the kind's resize alone.

        Raises:
            ValueError: If the file's inputs, outputs or fixed sizes disagree with
                ``image_size`` and ``labels`` (the message says which, expected vs got).
        """
        if not labels:
            raise ValueError("labels must name at least one label, got none")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if intra_op_threads is not None:
            options.intra_op_num_threads = intra_op_threads
        self.session = ort.InferenceSession(
            str(onnx_path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self.image_size = image_size
        self.labels = tuple(labels)
        self.standardize = standardize
        self.limits = limits or WorkLimits()
        self.image_step = image_step
        self._check_signature(onnx_path)

    def _check_signature(self, onnx_path: Path) -> None:
        inputs = self.session.get_inputs()
        outputs = self.session.get_outputs()
        input_names = [node.name for node in inputs]
        output_names = tuple(node.name for node in outputs)
        if input_names != [INPUT_NAME] or output_names != OUTPUT_NAMES:
            raise ValueError(
                f"{onnx_path.name}: expected input {INPUT_NAME!r} and outputs {OUTPUT_NAMES}, "
                f"got inputs {input_names} and outputs {output_names}"
            )
        shape = inputs[0].shape
        if len(shape) != _INPUT_RANK:
            raise ValueError(
                f"{onnx_path.name}: expected a 4D input (N, C, H, W), got shape {shape}"
            )
        fixed = [side for side in shape[2:] if isinstance(side, int)]
        if any(side != self.image_size for side in fixed):
            raise ValueError(
                f"{onnx_path.name}: the network takes {shape[2]}x{shape[3]} images, "
                f"configured image_size is {self.image_size}"
            )
        self._channels = shape[1] if isinstance(shape[1], int) else 1
        classes = outputs[0].shape[1] if len(outputs[0].shape) > 1 else None
        if isinstance(classes, int) and classes != len(self.labels):
            raise ValueError(
                f"{onnx_path.name}: the network has {classes} outputs, "
                f"{len(self.labels)} labels are configured"
            )

    def predict(self, pixels: NDArray[np.floating] | NDArray[np.integer]) -> ClassifierOutput:
        """Probabilities and CAMs of one radiograph ``(H, W)`` with intensities in ``[0, 1]``.

        Raises:
            ValueError: If ``pixels`` is not a finite 2D image in ``[0, 1]``.
            WorkLimitError: Classifying it would exceed ``limits``.
        """
        return self.predict_batch([pixels])[0]

    def predict_batch(
        self, images: Sequence[NDArray[np.floating] | NDArray[np.integer]]
    ) -> list[ClassifierOutput]:
        """``predict`` for several radiographs in one ONNX Runtime call (higher throughput).

        Raises:
            ValueError: If ``images`` is empty or one is not a finite 2D image in ``[0, 1]``.
            WorkLimitError: Classifying one of them would exceed ``limits`` (checked from
                its shape before anything is resized).
        """
        for pixels in images:
            check_radiograph(
                np.asarray(pixels),
                self.image_size,
                len(self.labels),
                self.limits,
                channels=self._channels,
            )
        batch = to_model_batch(
            images, self.image_size, standardize=self.standardize, image_step=self.image_step
        )
        if self._channels != 1:
            batch = np.repeat(batch, self._channels, axis=1)
        logits, cams = self.session.run(list(OUTPUT_NAMES), {INPUT_NAME: batch})
        probabilities = sigmoid(logits)
        return [
            ClassifierOutput(
                probabilities={label: float(p) for label, p in zip(self.labels, row, strict=True)},
                cams=np.asarray(maps, dtype=np.float32),
            )
            for row, maps in zip(probabilities, cams, strict=True)
        ]


def normalize_map(cam: NDArray[np.floating]) -> NDArray[np.float64]:
    """Scale a map linearly to ``[0, 1]`` (min to 0, max to 1); a flat map becomes zeros.

    Each map is scaled on its own, so the heatmap of a label the model calls absent
    still spans the full colour range: read it with the probability beside it.
    """
    values = np.asarray(cam, dtype=np.float64)
    low, high = float(values.min()), float(values.max())
    if not high > low:
        return np.zeros_like(values)
    return (values - low) / (high - low)


def apply_colormap(values: NDArray[np.floating]) -> NDArray[np.uint8]:
    """RGB ``(..., 3)`` uint8 of ``values`` in ``[0, 1]`` through the 'inferno' colour map."""
    clipped = np.clip(np.asarray(values, dtype=np.float64), 0.0, 1.0)
    stops = np.linspace(0.0, 1.0, len(_INFERNO_STOPS))
    channels = [np.interp(clipped, stops, _INFERNO_STOPS[:, c]) for c in range(3)]
    return np.round(np.stack(channels, axis=-1) * 255.0).astype(np.uint8)


def heatmap_overlay(
    pixels: NDArray[np.floating] | NDArray[np.integer],
    cam: NDArray[np.floating],
    *,
    alpha: float = 0.6,
) -> NDArray[np.uint8]:
    """RGB ``(S, S, 3)`` uint8: the radiograph (resized to the CAM) with the CAM over it.

    Each pixel mixes in the colour by ``alpha * cam`` (the CAM scaled to ``[0, 1]``), so
    where the map is cold the radiograph shows through unchanged instead of being darkened
    by the colour map's dark end.

    Args:
        pixels: ``(H, W)`` radiograph with intensities in ``[0, 1]``.
        cam: ``(S, S)`` class activation map of one label.
        alpha: Opacity of the colour at the hottest pixel, in ``[0, 1]``.

    Raises:
        ValueError: If ``cam`` is not a square 2D map or ``alpha`` is outside ``[0, 1]``.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
    heat = np.asarray(cam)
    if heat.ndim != _MAP_RANK or heat.shape[0] != heat.shape[1]:
        raise ValueError(f"expected a square 2D CAM (S, S), got shape {heat.shape}")
    grey = np.clip(resize_image(pixels, heat.shape[0]).astype(np.float64), 0.0, 1.0)
    scaled = normalize_map(heat)
    weight = alpha * scaled[..., np.newaxis]
    colour = apply_colormap(scaled).astype(np.float64) / 255.0
    blended = (1.0 - weight) * grey[..., np.newaxis] + weight * colour
    return np.round(blended * 255.0).astype(np.uint8)


def heatmap_png(
    pixels: NDArray[np.floating] | NDArray[np.integer],
    cam: NDArray[np.floating],
    *,
    alpha: float = 0.6,
) -> bytes:
    """``heatmap_overlay`` encoded as a PNG file (bytes), e.g. for an HTTP response.

    Raises:
        ValueError: As ``heatmap_overlay``.
    """
    buffer = io.BytesIO()
    Image.fromarray(heatmap_overlay(pixels, cam, alpha=alpha)).save(buffer, format="PNG")
    return buffer.getvalue()
