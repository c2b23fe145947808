"""The ONNX Runtime segmenter gives the torch/MONAI Segmenter's masks, without torch."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from monai.data import MetaTensor
from monai.transforms import SpatialResample

from ct_seg.inference import Segmenter
from ct_seg.mlops.onnx_export import export_onnx
from ct_seg.models import CtSegUNet
from ct_seg.onnx_segmenter import OnnxSegmenter
from ct_seg.settings import InferenceSettings, ModelSettings, PreprocessingSettings
from ct_seg.utils.preprocessing import IMAGE, inference_transforms, volume_to_metatensor
from medai.io import Volume
from medai.testing import packages_loaded_by

SMALL = ModelSettings(channels=(4, 8, 16), strides=(2, 2), num_res_units=1, norm="batch")
TRAIN_STEPS = 30


def sphere_volume(shape, affine, radius=12.0, seed=0) -> tuple[Volume, np.ndarray]:
    """A bright sphere (soft tissue HU) in air with noise, centred in the volume."""
    grid = np.stack(np.meshgrid(*[np.arange(s) for s in shape], indexing="ij"), axis=-1)
    world = grid @ affine[:3, :3].T + affine[:3, 3]
    centre = np.asarray(shape) / 2 @ affine[:3, :3].T + affine[:3, 3]
    inside = np.linalg.norm(world - centre, axis=-1) < radius
    noise = np.random.default_rng(seed).normal(0.0, 60.0, size=shape)
    hu = np.where(inside, 150.0, -150.0) + noise
    return Volume(hu.astype(np.float32), affine), inside


def _training_batch(rng: np.random.Generator, size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = [], []
    for _ in range(2):
        radius = rng.uniform(4.0, 12.0)
        centre = rng.uniform(8.0, size - 8.0, size=3)
        grid = np.stack(np.meshgrid(*[np.arange(size)] * 3, indexing="ij"), axis=-1)
        inside = np.linalg.norm(grid - centre, axis=-1) < radius
        hu = np.where(inside, 150.0, -150.0) + rng.normal(0.0, 60.0, size=inside.shape)
        images.append(np.clip((hu + 200.0) / 500.0, 0.0, 1.0)[np.newaxis])
        labels.append(inside)
    return (
        torch.from_numpy(np.stack(images).astype(np.float32)),
        torch.from_numpy(np.stack(labels).astype(np.int64)),
    )


def _adam_step(params, moments, step, *, lr=1e-2, betas=(0.9, 0.999), eps=1e-8):
    """Plain Adam: ``torch.optim`` would import torch._dynamo, ~10 s on a cold start."""
    with torch.no_grad():
        for param, (mean, square) in zip(params, moments, strict=True):
            mean.mul_(betas[0]).add_(param.grad, alpha=1 - betas[0])
            square.mul_(betas[1]).addcmul_(param.grad, param.grad, value=1 - betas[1])
            mean_hat = mean / (1 - betas[0] ** step)
            square_hat = square / (1 - betas[1] ** step)
            param.sub_(lr * mean_hat / (square_hat.sqrt() + eps))
            param.grad = None


@pytest.fixture(scope="module")
def trained_unet() -> torch.nn.Module:
    """A small UNet trained briefly on noisy spheres, so its masks are neither empty nor full."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    network = CtSegUNet(SMALL, num_classes=2).exportable()
    params = [p for p in network.parameters() if p.requires_grad]
    moments = [(torch.zeros_like(p), torch.zeros_like(p)) for p in params]
    network.train()
    # One thread: tiny convolutions gain nothing from more, and on a busy machine the
    # spinning worker threads made the same 30 steps ten times slower.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for step in range(1, TRAIN_STEPS + 1):
            images, labels = _training_batch(rng)
            torch.nn.functional.cross_entropy(network(images), labels).backward()
            _adam_step(params, moments, step)
    finally:
        torch.set_num_threads(threads)
    return network.eval()


@pytest.fixture(scope="module")
def onnx_path(trained_unet, tmp_path_factory):
    path = tmp_path_factory.mktemp("onnx") / "ct-seg.onnx"
    return export_onnx(trained_unet, path, torch.zeros(1, 1, 32, 32, 32))


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


@pytest.mark.parametrize(("shape", "affine", "patch"), GEOMETRIES.values(), ids=GEOMETRIES.keys())
def test_onnx_segmenter_matches_the_torch_segmenter(trained_unet, onnx_path, shape, affine, patch):
    volume, _ = sphere_volume(shape, affine)
    prep = PreprocessingSettings(patch_size=patch)
    inference = InferenceSettings(sw_batch_size=3, overlap=0.25, blend_mode="gaussian")
    reference = Segmenter(trained_unet, prep, inference)
    candidate = OnnxSegmenter(onnx_path, prep, inference, intra_op_threads=1)

    expected_input = inference_transforms(prep)({IMAGE: volume_to_metatensor(volume)})[IMAGE]
    model_input = candidate.preprocess(volume)
    np.testing.assert_allclose(model_input.image, expected_input.numpy()[0], atol=1e-5)
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


def test_the_trained_network_finds_the_sphere(onnx_path):
    volume, truth = sphere_volume((48, 48, 48), np.diag([1.5, 1.5, 1.5, 1.0]), radius=20.0)
    segmenter = OnnxSegmenter(
        onnx_path, PreprocessingSettings(patch_size=(32, 32, 32)), InferenceSettings()
    )

    mask = segmenter.segment(volume) == 1

    dice = 2 * np.logical_and(mask, truth).sum() / (mask.sum() + truth.sum())
    assert dice > 0.8


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
    assert packages_loaded_by(["ct_seg.onnx_segmenter"]) == set()
