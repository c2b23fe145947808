import io
import warnings

import matplotlib as mpl
import numpy as np
import onnx
import pytest
import torch
from PIL import Image

from medai.classification.onnx_classifier import (
    OnnxClassifier,
    apply_colormap,
    heatmap_overlay,
    heatmap_png,
    normalize_map,
    sigmoid,
)
from medai.classification.preprocessing import resize_image, to_model_input

LABELS = ("square", "bar")


def _radiograph(seed, shape=(50, 40)):
    return np.random.default_rng(seed).uniform(0.0, 1.0, shape).astype(np.float32)


def test_predict_equals_torch_sigmoid_of_logits_and_the_torch_cams(exported):
    network, path = exported
    classifier = OnnxClassifier(path, 32, LABELS, intra_op_threads=1)
    pixels = _radiograph(0)

    output = classifier.predict(pixels)

    with torch.no_grad():
        logits, cams = network.exportable()(torch.from_numpy(to_model_input(pixels, 32)))
    expected = torch.sigmoid(logits)[0].numpy()
    assert list(output.probabilities) == list(LABELS)
    assert np.allclose(list(output.probabilities.values()), expected, atol=1e-5)
    assert output.cams.shape == (2, 32, 32)
    assert output.cams.dtype == np.float32
    assert np.allclose(output.cams, cams[0].numpy(), atol=1e-4)


def test_batch_predict_equals_one_by_one(exported):
    _, path = exported
    classifier = OnnxClassifier(path, 32, LABELS)
    images = [_radiograph(1), _radiograph(2, (32, 32)), _radiograph(3, (70, 90))]

    batch = classifier.predict_batch(images)

    assert len(batch) == 3
    for image, output in zip(images, batch, strict=True):
        single = classifier.predict(image)
        assert single.probabilities == pytest.approx(output.probabilities, abs=1e-6)
        assert np.allclose(single.cams, output.cams, atol=1e-5)


def test_a_model_for_another_image_size_or_label_count_is_refused(exported):
    _, path = exported

    with pytest.raises(ValueError, match="takes 32x32 images, configured image_size is 64"):
        OnnxClassifier(path, 64, LABELS)
    with pytest.raises(ValueError, match="the network has 2 outputs, 3 labels are configured"):
        OnnxClassifier(path, 32, ("a", "b", "c"))
    with pytest.raises(ValueError, match="at least one label"):
        OnnxClassifier(path, 32, ())


def test_a_model_with_other_inputs_and_outputs_is_refused(tmp_path):
    tensor = onnx.helper.make_tensor_value_info
    graph = onnx.helper.make_graph(
        [onnx.helper.make_node("Identity", ["x"], ["y"])],
        "identity",
        [tensor("x", onnx.TensorProto.FLOAT, ["batch", 1, 32, 32])],
        [tensor("y", onnx.TensorProto.FLOAT, ["batch", 1, 32, 32])],
    )
    path = tmp_path / "other.onnx"
    onnx.save(onnx.helper.make_model(graph), str(path))

    with pytest.raises(ValueError, match=r"other.onnx: expected input 'image' and outputs"):
        OnnxClassifier(path, 32, LABELS)


def test_predict_refuses_an_unscaled_image(exported):
    _, path = exported

    with pytest.raises(ValueError, match=r"scaled to \[0, 1\]"):
        OnnxClassifier(path, 32, LABELS).predict(np.full((40, 40), 1000.0))


def test_sigmoid_is_exact_at_zero_and_saturates_without_overflow_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        values = sigmoid(np.array([-1000.0, -2.0, 0.0, 2.0, 1000.0]))

    assert values[2] == 0.5
    assert values[0] == 0.0
    assert values[4] == 1.0
    assert values[3] == pytest.approx(1.0 / (1.0 + np.exp(-2.0)))
    assert values[1] + values[3] == pytest.approx(1.0)


def test_colormap_follows_matplotlib_inferno_closely():
    values = np.linspace(0.0, 1.0, 256)
    reference = np.round(mpl.colormaps["inferno"](values)[:, :3] * 255)

    ours = apply_colormap(values).astype(int)

    assert ours.shape == (256, 3)
    assert np.abs(ours - reference).max() <= 7
    assert np.array_equal(apply_colormap(np.array([-1.0, 2.0])), apply_colormap(np.array([0, 1])))


def test_normalize_map_spans_zero_to_one_and_a_flat_map_is_zero():
    assert np.allclose(normalize_map(np.array([[1.0, 2.0], [3.0, 5.0]])), [[0, 0.25], [0.5, 1]])
    assert np.array_equal(normalize_map(np.full((3, 3), 4.0)), np.zeros((3, 3)))


def test_overlay_leaves_cold_pixels_grey_and_colours_the_hottest_one():
    pixels = _radiograph(4, (64, 64))
    cam = np.zeros((32, 32), dtype=np.float32)
    cam[10, 20] = 3.0
    grey = np.round(resize_image(pixels, 32) * 255)

    overlay = heatmap_overlay(pixels, cam, alpha=1.0)

    assert overlay.shape == (32, 32, 3)
    assert overlay.dtype == np.uint8
    assert np.array_equal(overlay[0, 0], np.repeat(grey[0, 0], 3))
    assert np.array_equal(overlay[10, 20], apply_colormap(np.array(1.0)))


def test_heatmap_png_decodes_to_an_rgb_image_of_the_cam_size():
    pixels = _radiograph(5, (100, 80))
    cam = np.random.default_rng(6).uniform(0, 2, (32, 32))

    png = heatmap_png(pixels, cam)

    assert png.startswith(b"\x89PNG")
    decoded = Image.open(io.BytesIO(png))
    assert decoded.mode == "RGB"
    assert decoded.size == (32, 32)
    assert np.array_equal(np.asarray(decoded), heatmap_overlay(pixels, cam))


@pytest.mark.parametrize(
    ("cam", "alpha", "message"),
    [
        (np.zeros((32, 16)), 0.5, r"square 2D CAM \(S, S\), got shape \(32, 16\)"),
        (np.zeros((2, 32, 32)), 0.5, "square 2D CAM"),
        (np.zeros((32, 32)), 1.5, "alpha must be between 0 and 1, got 1.5"),
    ],
)
def test_heatmap_refuses_a_bad_cam_or_alpha(cam, alpha, message):
    with pytest.raises(ValueError, match=message):
        heatmap_png(np.zeros((40, 40)), cam, alpha=alpha)
