"""An exported ONNX network is checked against torch before anything serves it."""

from __future__ import annotations

import onnx
import pytest
import torch
from monai.networks.nets import UNet

from medai.export import OnnxExportError, OnnxGraphSpec, check_onnx_matches, export_onnx

SPATIAL = {0: "batch", 2: "x", 3: "y", 4: "z"}
SEGMENTATION = OnnxGraphSpec("image", ("logits",), {"image": SPATIAL, "logits": SPATIAL})
# Different batch sizes and spatial shapes: a graph that baked in the traced shape fails.
EXAMPLES = [torch.rand(1, 1, 32, 32, 32), torch.rand(2, 1, 48, 32, 40)]


def small_unet(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    network = UNet(
        spatial_dims=3,
        in_channels=1,
        out_channels=3,
        channels=(4, 8, 16),
        strides=(2, 2),
        num_res_units=1,
        norm="batch",
    )
    return network.eval()


class TwoHeads(torch.nn.Module):
    """Logits and a per-channel pooled map, like a classifier with class-activation maps."""

    def __init__(self, scale: float = 1.0) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 2, 3, padding=1)
        self.scale = scale

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        maps = self.conv(image) * self.scale
        return maps.mean(dim=(2, 3)), maps


TWO_HEADS = OnnxGraphSpec(
    "image",
    ("logits", "maps"),
    {"image": {0: "batch"}, "logits": {0: "batch"}, "maps": {0: "batch"}},
)
IMAGES = [torch.rand(1, 1, 8, 8), torch.rand(3, 1, 8, 8)]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    network = small_unet(0)
    path = export_onnx(
        network, tmp_path_factory.mktemp("onnx") / "model.onnx", EXAMPLES[0], SEGMENTATION
    )
    return network, path


def test_export_has_named_dynamic_inputs_and_outputs(exported):
    _, path = exported
    graph = onnx.load(str(path)).graph

    (image,) = graph.input
    (logits,) = graph.output
    assert (image.name, logits.name) == ("image", "logits")
    dims = [d.dim_param or d.dim_value for d in image.type.tensor_type.shape.dim]
    assert dims == ["batch", 1, "x", "y", "z"]


def test_export_matches_torch_on_several_shapes(exported):
    network, path = exported

    worst = check_onnx_matches(network, path, EXAMPLES)

    assert 0.0 <= worst < 1e-3


def test_a_different_network_fails_the_check_naming_the_output(exported):
    _, path = exported

    with pytest.raises(OnnxExportError, match=r"output 'logits' differs from torch by up to \d"):
        check_onnx_matches(small_unet(1), path, EXAMPLES)


def test_the_check_needs_an_example(exported):
    network, path = exported

    with pytest.raises(OnnxExportError, match="at least one example"):
        check_onnx_matches(network, path, [])


def test_export_works_from_inside_inference_mode(tmp_path):
    network = small_unet(2)

    with torch.inference_mode():
        path = export_onnx(network, tmp_path / "nested" / "model.onnx", EXAMPLES[0], SEGMENTATION)

    assert check_onnx_matches(network, path, EXAMPLES[:1]) < 1e-3


def test_every_output_of_a_multi_output_network_is_exported_and_checked(tmp_path):
    torch.manual_seed(0)
    network = TwoHeads().eval()

    path = export_onnx(network, tmp_path / "heads.onnx", IMAGES[0], TWO_HEADS)

    assert [o.name for o in onnx.load(str(path)).graph.output] == ["logits", "maps"]
    assert check_onnx_matches(network, path, IMAGES) < 1e-4
    changed = TwoHeads(scale=2.0)
    changed.load_state_dict(network.state_dict())
    with pytest.raises(OnnxExportError, match=r"output 'logits' differs"):
        check_onnx_matches(changed.eval(), path, IMAGES)


def test_a_network_with_another_output_count_is_refused(tmp_path):
    torch.manual_seed(0)
    network = TwoHeads().eval()
    path = export_onnx(network, tmp_path / "heads.onnx", IMAGES[0], TWO_HEADS)

    class LogitsOnly(torch.nn.Module):
        def forward(self, image: torch.Tensor) -> torch.Tensor:
            return network(image)[0]

    with pytest.raises(OnnxExportError, match="ONNX gives 2 outputs, torch 1"):
        check_onnx_matches(LogitsOnly(), path, IMAGES)


def test_a_graph_that_baked_in_the_batch_size_is_caught(tmp_path):
    torch.manual_seed(0)
    network = TwoHeads().eval()
    fixed = OnnxGraphSpec("image", ("logits", "maps"), {})
    path = export_onnx(network, tmp_path / "fixed.onnx", IMAGES[0], fixed)

    with pytest.raises(OnnxExportError, match=r"cannot run it on input \(3, 1, 8, 8\)"):
        check_onnx_matches(network, path, IMAGES)
