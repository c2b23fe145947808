"""The ONNX Runtime segmenter gives the torch/MONAI Segmenter's masks, without torch."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from monai.data import MetaTensor
from monai.transforms import SpatialResample

from medai.io import Volume
from medai.segmentation.onnx_segmenter import OnnxSegmenter
from medai.segmentation.segmenter import Segmenter
from medai.segmentation.settings import InferenceSettings, PreprocessingSettings
from medai.segmentation.transforms import IMAGE, inference_transforms, volume_to_metatensor
from medai.testing import packages_loaded_by


def reference_logits(segmenter: Segmenter, volume: Volume) -> np.ndarray:
    """``Segmenter.segment`` up to the argmax: logits on the input grid, via torch and MONAI."""
    processed = segmenter.transforms({IMAGE: volume_to_metatensor(volume)})[IMAGE]
    logits = segmenter.logits(processed.unsqueeze(0))[0]
    on_input_grid = SpatialResample(mode="bilinear", padding_mode="border")(
        MetaTensor(logits, affine=processed.affine),
        dst_affine=torch.from_numpy(volume.affine),
        spatial_size=volume.shape,
    )
    return torch.as_tensor(on_input_grid).numpy()


def _oblique() -> np.ndarray:
    c, s = np.cos(0.4), np.sin(0.4)
    affine = np.eye(4)
    affine[:3, :3] = np.array([[1, 0, 0], [0, c, -s], [0, s, c]]) @ np.diag([1.2, 0.9, 1.8])
    affine[:3, 3] = [-20.0, 10.0, 5.0]
    return affine


GEOMETRIES = {
    "isotropic-ras": ((40, 34, 22), np.diag([1.5, 1.5, 1.5, 1.0]), (16, 16, 16)),
    "lps-anisotropic": (
        (40, 34, 22),
        np.array([[-0.8, 0, 0, 40.0], [0, -1.1, 0, 20.0], [0, 0, 2.5, -30.0], [0, 0, 0, 1]]),
        (16, 16, 16),
    ),
    "swapped-axes": (
        (40, 34, 22),
        np.array([[0, 1.2, 0, 0.0], [0.9, 0, 0, 0.0], [0, 0, -2.0, 10.0], [0, 0, 0, 1]]),
        (16, 16, 16),
    ),
    "oblique": ((30, 36, 18), _oblique(), (16, 16, 16)),
    "smaller-than-patch": ((10, 12, 9), np.diag([3.0, 3.0, 3.0, 1.0]), (32, 32, 32)),
}


@pytest.mark.parametrize("geometry", GEOMETRIES.values(), ids=GEOMETRIES.keys())
def test_onnx_segmenter_matches_the_torch_segmenter(trained_unet, onnx_path, make_sphere, geometry):
    shape, affine, patch = geometry
    volume, _ = make_sphere(shape, affine)
    prep = PreprocessingSettings(patch_size=patch)
    inference = InferenceSettings(sw_batch_size=3, overlap=0.25, blend_mode="gaussian")
    reference = Segmenter(trained_unet, prep, inference)
    candidate = OnnxSegmenter(onnx_path, prep, inference, intra_op_threads=1)

    expected_input = inference_transforms(prep)({IMAGE: volume_to_metatensor(volume)})[IMAGE]
    model_input = candidate.preprocess(volume)
    np.testing.assert_allclose(model_input.image, expected_input.numpy(), atol=1e-5)
    np.testing.assert_allclose(model_input.affine, expected_input.affine.numpy(), atol=1e-9)

    expected_logits = reference_logits(reference, volume)
    logits = candidate.logits(volume)
    assert logits.shape == (2, *shape)
    np.testing.assert_allclose(logits, expected_logits, atol=1e-3, rtol=1e-3)

    expected_mask = reference.segment(volume)
    mask = candidate.segment(volume)
    assert mask.shape == shape
    assert mask.dtype == np.uint8
    foreground = (expected_mask == 1).mean()
    assert 0.02 < foreground < 0.98, f"trivial reference mask ({foreground:.1%} foreground)"
    agreement = (mask == expected_mask).mean()
    assert agreement >= 0.995, f"masks agree on only {agreement:.2%} of voxels"


def test_the_trained_network_finds_the_sphere(onnx_path, make_sphere):
    volume, truth = make_sphere((48, 48, 48), np.diag([1.5, 1.5, 1.5, 1.0]), radius=20.0)
    segmenter = OnnxSegmenter(
        onnx_path, PreprocessingSettings(patch_size=(32, 32, 32)), InferenceSettings()
    )

    mask = segmenter.segment(volume) == 1

    dice = 2 * np.logical_and(mask, truth).sum() / (mask.sum() + truth.sum())
    assert dice > 0.8


def test_the_intensity_window_comes_from_the_settings(onnx_path, make_sphere):
    volume, _ = make_sphere((20, 20, 20), np.diag([1.5, 1.5, 1.5, 1.0]), noise=0)
    prep = PreprocessingSettings(intensity_min=100.0, intensity_max=200.0, patch_size=(16,) * 3)
    image = OnnxSegmenter(onnx_path, prep, InferenceSettings()).preprocess(volume).image

    # 150 (sphere) sits mid-window, -150 (background) clips to 0.
    assert float(image.min()) == 0.0
    assert float(image.max()) == pytest.approx(0.5, abs=1e-5)


def test_a_model_with_the_wrong_input_rank_is_refused(tmp_path):
    image = onnx.helper.make_tensor_value_info("image", onnx.TensorProto.FLOAT, ["n", 1, 8, 8])
    logits = onnx.helper.make_tensor_value_info("logits", onnx.TensorProto.FLOAT, ["n", 1, 8, 8])
    graph = onnx.helper.make_graph(
        [onnx.helper.make_node("Identity", ["image"], ["logits"])], "flat", [image], [logits]
    )
    path = tmp_path / "flat.onnx"
    onnx.save(onnx.helper.make_model(graph), str(path))

    with pytest.raises(ValueError, match="one 5D input"):
        OnnxSegmenter(path, PreprocessingSettings(), InferenceSettings())


def test_importing_the_onnx_segmenter_loads_no_torch_monai_or_mlflow():
    assert packages_loaded_by(["medai.segmentation.onnx_segmenter"]) == set()
