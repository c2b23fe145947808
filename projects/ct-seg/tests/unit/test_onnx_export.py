"""An exported ONNX network is checked against torch before anything serves it."""

from __future__ import annotations

import onnx
import pytest
import torch

from ct_seg.mlops.onnx_export import (
    INPUT_NAME,
    OUTPUT_NAME,
    OnnxExportError,
    check_onnx_matches,
    export_onnx,
)
from ct_seg.models import CtSegUNet
from ct_seg.settings import ModelSettings

SMALL = ModelSettings(channels=(4, 8, 16), strides=(2, 2), num_res_units=1, norm="batch")
# Different batch sizes and spatial shapes: a graph that baked in the traced shape fails.
EXAMPLES = [torch.rand(1, 1, 32, 32, 32), torch.rand(2, 1, 48, 32, 40)]


def small_unet(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return CtSegUNet(SMALL, num_classes=3).exportable().eval()


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    network = small_unet(0)
    path = export_onnx(network, tmp_path_factory.mktemp("onnx") / "model.onnx", EXAMPLES[0])
    return network, path


def test_export_has_named_dynamic_inputs_and_outputs(exported):
    _, path = exported
    graph = onnx.load(str(path)).graph

    (image,) = graph.input
    (logits,) = graph.output
    assert (image.name, logits.name) == (INPUT_NAME, OUTPUT_NAME)
    dims = [d.dim_param or d.dim_value for d in image.type.tensor_type.shape.dim]
    assert dims == ["batch", 1, "x", "y", "z"]


def test_export_matches_torch_on_several_shapes(exported):
    network, path = exported

    worst = check_onnx_matches(network, path, EXAMPLES)

    assert 0.0 <= worst < 1e-3


def test_a_different_network_fails_the_check_with_the_difference(exported):
    _, path = exported

    with pytest.raises(OnnxExportError, match=r"differ from torch by up to \d"):
        check_onnx_matches(small_unet(1), path, EXAMPLES)


def test_the_check_needs_an_example(exported):
    network, path = exported

    with pytest.raises(OnnxExportError, match="at least one example"):
        check_onnx_matches(network, path, [])


def test_export_works_from_inside_inference_mode(tmp_path):
    network = small_unet(2)

    with torch.inference_mode():
        path = export_onnx(network, tmp_path / "nested" / "model.onnx", EXAMPLES[0])

    assert check_onnx_matches(network, path, EXAMPLES[:1]) < 1e-3
