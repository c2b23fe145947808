"""Export a trained network to ONNX and prove the export computes the same logits.

The inference server runs the ONNX file on ONNX Runtime (no torch), so a registered
model is only as good as its export: every export is checked against the torch network
on inputs of different batch sizes and spatial shapes before it is logged.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort  # type: ignore[import-untyped, unused-ignore]
import torch

INPUT_NAME = "image"
OUTPUT_NAME = "logits"
_SPATIAL_AXES = {0: "batch", 2: "x", 3: "y", 4: "z"}


class OnnxExportError(RuntimeError):
    """The ONNX export does not reproduce the torch network (or could not be run)."""


def export_onnx(
    network: torch.nn.Module, path: Path, example: torch.Tensor, *, opset: int = 18
) -> Path:
    """Write ``network`` (in eval mode) as ONNX with a free batch size and free spatial sizes.

    Uses the TorchScript-based exporter (``dynamo=False``): it handles MONAI's UNet without
    extra dependencies and gives a graph ONNX Runtime optimises well. Its deprecation
    warnings are silenced here, where the choice is made, not globally.

    Args:
        network: Maps ``(N, C, X, Y, Z)`` to logits ``(N, K, X, Y, Z)``; set to eval mode.
        path: Destination ``.onnx`` file (parent folders are created).
        example: A valid input used to trace the network.
        opset: ONNX opset version.

    Returns:
        ``path``, after checking the written model with ``onnx.checker``.
    """
    network.eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings(), torch.inference_mode(mode=False), torch.no_grad():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", FutureWarning)
        torch.onnx.export(
            network,
            (example,),
            str(path),
            dynamo=False,
            opset_version=opset,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: _SPATIAL_AXES, OUTPUT_NAME: _SPATIAL_AXES},
        )
    onnx.checker.check_model(str(path))
    return path


def check_onnx_matches(
    network: torch.nn.Module,
    path: Path,
    examples: Sequence[torch.Tensor],
    *,
    atol: float = 1e-3,
    rtol: float = 1e-3,
) -> float:
    """Compare the ONNX file with the torch network (eval mode) on each example.

    Use at least two examples with different batch sizes and spatial shapes (multiples of
    the network's stride product), so a graph that baked in the tracing shape fails.

    Args:
        network: The torch network that was exported; set to eval mode.
        path: The exported ``.onnx`` file.
        examples: Inputs ``(N, C, X, Y, Z)``.
        atol: Absolute tolerance on logits.
        rtol: Relative tolerance on logits.

    Returns:
        The largest absolute logit difference over all examples.

    Raises:
        OnnxExportError: If a shape differs or a logit is outside ``atol + rtol * |torch|``;
            the message names the maximum absolute difference.
    """
    if not examples:
        raise OnnxExportError("check_onnx_matches needs at least one example input")
    network.eval()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    worst = 0.0
    for example in examples:
        with torch.no_grad():
            expected = network(example).detach().cpu().numpy()
        (actual,) = session.run(None, {input_name: example.detach().cpu().numpy()})
        if actual.shape != expected.shape:
            raise OnnxExportError(
                f"{path}: ONNX output shape {actual.shape} differs from torch "
                f"{expected.shape} for input {tuple(example.shape)}"
            )
        difference = float(np.max(np.abs(actual - expected)))
        worst = max(worst, difference)
        if not np.allclose(actual, expected, atol=atol, rtol=rtol):
            raise OnnxExportError(
                f"{path}: ONNX logits differ from torch by up to {difference:.3g} for input "
                f"{tuple(example.shape)} (tolerance atol={atol}, rtol={rtol})"
            )
    return worst
