"""Export a trained network to ONNX and prove the export computes the same outputs.

Inference servers run the ONNX file on ONNX Runtime (no torch), so a registered model
is only as good as its export: every export is checked against the torch network on
inputs of different batch sizes (and, where the graph allows, spatial shapes) before it
is logged. Segmentation (one logits output, free spatial axes) and classification
(logits plus class-activation maps, fixed image size) both go through here.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort  # type: ignore[import-untyped, unused-ignore]
import torch
from torch.jit._trace import TracerWarning  # not re-exported by torch.jit's stubs


class OnnxExportError(RuntimeError):
    """The ONNX export does not reproduce the torch network (or could not be run)."""


@dataclass(frozen=True)
class OnnxGraphSpec:
    """Names and free axes of the exported graph.

    Attributes:
        input_name: The single input tensor's name.
        output_names: One name per output of the network's ``forward``.
        dynamic_axes: Per tensor name, the axes left free (index -> symbolic name).
    """

    input_name: str = "image"
    output_names: tuple[str, ...] = ("logits",)
    dynamic_axes: Mapping[str, Mapping[int, str]] = field(default_factory=dict)


def _as_tuple(outputs: torch.Tensor | Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
    return (outputs,) if isinstance(outputs, torch.Tensor) else tuple(outputs)


def export_onnx(
    network: torch.nn.Module,
    path: Path,
    example: torch.Tensor,
    spec: OnnxGraphSpec,
    *,
    opset: int = 18,
) -> Path:
    """Write ``network`` (in eval mode) as ONNX.

    Uses the TorchScript-based exporter (``dynamo=False``): it handles MONAI's networks
    without extra dependencies and gives a graph ONNX Runtime optimises well. Its
    deprecation and tracer warnings are silenced here, where the choice is made, not
    globally.

    Args:
        network: The module to export; set to eval mode.
        path: Destination ``.onnx`` file (parent folders are created).
        example: A valid input used to trace the network.
        spec: Input/output names and free axes.
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
        # Shape checks in Python (InstanceNorm's channel check, MONAI's padding) trace as
        # constants; check_onnx_matches then runs the graph on other batch sizes and
        # shapes, which is what catches a graph that baked one in.
        warnings.simplefilter("ignore", TracerWarning)
        torch.onnx.export(
            network,
            (example,),
            str(path),
            dynamo=False,
            opset_version=opset,
            input_names=[spec.input_name],
            output_names=list(spec.output_names),
            dynamic_axes={k: dict(v) for k, v in spec.dynamic_axes.items()},
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
    """Compare every output of the ONNX file with the torch network on each example.

    Use at least two examples with different batch sizes (and spatial shapes where the
    graph's axes are free), so a graph that baked in the tracing shape fails.

    Returns:
        The largest absolute difference over all outputs and examples.

    Raises:
        OnnxExportError: If ONNX Runtime cannot run an example (e.g. the graph fixed a
            free axis), an output count or shape differs, or a value is outside
            ``atol + rtol * |torch|``; the message names the output and the difference.
    """
    if not examples:
        raise OnnxExportError("check_onnx_matches needs at least one example input")
    network.eval()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    output_names = [o.name for o in session.get_outputs()]
    worst = 0.0
    for example in examples:
        with torch.no_grad():
            expected = [t.detach().cpu().numpy() for t in _as_tuple(network(example))]
        try:
            actual = session.run(None, {input_name: example.detach().cpu().numpy()})
        except Exception as exc:  # ONNX Runtime's errors derive from Exception only
            raise OnnxExportError(
                f"{path}: ONNX Runtime cannot run it on input {tuple(example.shape)} "
                f"({' '.join(str(exc).split())})"
            ) from exc
        if len(actual) != len(expected):
            raise OnnxExportError(
                f"{path}: ONNX gives {len(actual)} outputs, torch {len(expected)}"
            )
        for name, got, want in zip(output_names, actual, expected, strict=True):
            if got.shape != want.shape:
                raise OnnxExportError(
                    f"{path}: ONNX output {name!r} shape {got.shape} differs from torch "
                    f"{want.shape} for input {tuple(example.shape)}"
                )
            difference = float(np.max(np.abs(got - want))) if got.size else 0.0
            worst = max(worst, difference)
            if not np.allclose(got, want, atol=atol, rtol=rtol):
                raise OnnxExportError(
                    f"{path}: ONNX output {name!r} differs from torch by up to "
                    f"{difference:.3g} for input {tuple(example.shape)} "
                    f"(tolerance atol={atol}, rtol={rtol})"
                )
    return worst
