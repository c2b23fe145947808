"""Export a ``CamClassifier`` to ONNX (logits and CAMs) and prove the export is faithful.

The classification case of ``medai.export``: the graph is ``image`` -> ``logits``,
``cams`` (``CamClassifier.exportable()``), checked against torch on two batch sizes
before it is logged, because the torch-free server trusts it blindly.

The graph has a free batch size but a fixed image size (``image_size`` x ``image_size``):
the server resizes every radiograph to the training size anyway (see
``medai.classification.preprocessing``), and a fixed size lets ONNX Runtime plan the
CAM upsampling once.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import onnxruntime as ort  # type: ignore[import-untyped, unused-ignore]
import torch

from medai.classification.networks import CamClassifier
from medai.classification.onnx_classifier import INPUT_NAME, OUTPUT_NAMES
from medai.export import OnnxExportError, OnnxGraphSpec, check_onnx_matches, export_onnx

__all__ = [
    "GRAPH_SPEC",
    "OnnxExportError",
    "check_classifier_onnx",
    "export_checked_classifier",
    "export_classifier_onnx",
]

GRAPH_SPEC = OnnxGraphSpec(
    input_name=INPUT_NAME,
    output_names=OUTPUT_NAMES,
    dynamic_axes={name: {0: "batch"} for name in (INPUT_NAME, *OUTPUT_NAMES)},
)
"""Input ``image (N, C, S, S)``, outputs ``logits (N, K)`` and ``cams (N, K, S, S)``."""


def export_classifier_onnx(
    network: CamClassifier, path: Path, *, image_size: int, opset: int = 18
) -> Path:
    """Write ``network.exportable()`` as ONNX: ``image`` -> ``logits``, ``cams``.

    Args:
        network: The trained classifier; it is switched to eval mode.
        path: Destination ``.onnx`` file (parent folders are created).
        image_size: Side of the square input the network was trained on.
        opset: ONNX opset version.

    Returns:
        ``path``, after checking the written model with ``onnx.checker``.
    """
    network.eval()
    example = torch.zeros(1, network.in_channels, image_size, image_size)
    return export_onnx(network.exportable(), path, example, GRAPH_SPEC, opset=opset)


def check_classifier_onnx(
    network: CamClassifier,
    path: Path,
    *,
    image_size: int,
    batch_sizes: Sequence[int] = (1, 3),
    atol: float = 1e-4,
    rtol: float = 1e-3,
    seed: int = 0,
) -> float:
    """Compare the ONNX file with the torch network on random images of each batch size.

    Use at least two batch sizes, so a graph that baked in the tracing batch fails.

    Args:
        network: The torch network that was exported; switched to eval mode.
        path: The exported ``.onnx`` file.
        image_size: Side of the square input.
        batch_sizes: One random batch ``(B, C, image_size, image_size)`` in ``[0, 1]`` each.
        atol: Absolute tolerance on logits and CAMs.
        rtol: Relative tolerance on logits and CAMs.
        seed: Seed of the random images.

    Returns:
        The largest absolute difference over both outputs and all batches.

    Raises:
        OnnxExportError: If the file has other inputs/outputs, a shape differs, or a value
            is outside ``atol + rtol * |torch|`` (the message names the output and the
            maximum absolute difference).
    """
    if not batch_sizes:
        raise OnnxExportError("check_classifier_onnx needs at least one batch size")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inputs = [node.name for node in session.get_inputs()]
    outputs = tuple(node.name for node in session.get_outputs())
    if inputs != [INPUT_NAME] or outputs != OUTPUT_NAMES:
        raise OnnxExportError(
            f"{path}: expected input {INPUT_NAME!r} and outputs {OUTPUT_NAMES}, "
            f"got inputs {inputs} and outputs {outputs}"
        )
    generator = torch.Generator().manual_seed(seed)
    examples = [
        torch.rand(batch, network.in_channels, image_size, image_size, generator=generator)
        for batch in batch_sizes
    ]
    network.eval()
    return check_onnx_matches(network.exportable(), path, examples, atol=atol, rtol=rtol)


def export_checked_classifier(
    network: CamClassifier,
    path: Path,
    *,
    image_size: int,
    batch_sizes: Sequence[int] = (1, 3),
    opset: int = 18,
) -> Path:
    """Export and check in one call: the file is only returned if ONNX matches torch.

    Raises:
        OnnxExportError: As ``check_classifier_onnx``; the bad file is deleted.
    """
    export_classifier_onnx(network, path, image_size=image_size, opset=opset)
    try:
        check_classifier_onnx(network, path, image_size=image_size, batch_sizes=batch_sizes)
    except OnnxExportError:
        path.unlink(missing_ok=True)
        raise
    return path
