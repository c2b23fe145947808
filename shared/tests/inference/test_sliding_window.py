"""The numpy sliding window gives MONAI's sliding_window_inference output, without torch."""

from __future__ import annotations

import monai.data.utils as monai_data_utils
import monai.inferers as monai_inferers
import numpy as np
import pytest
import torch

from medai.inference import importance_map, sliding_window_predict, window_starts


def numpy_predictor(windows: np.ndarray) -> np.ndarray:
    """Deterministic, nonlinear and window-relative (a ramp), so overlapping windows disagree."""
    ramp = np.linspace(-1.0, 1.0, windows.shape[2], dtype=np.float32)[None, None, :, None, None]
    channels = [np.tanh(3 * windows) + ramp, windows**2 - ramp, np.sin(windows)]
    return np.concatenate(channels, axis=1).astype(np.float32)


def torch_predictor(windows):
    return torch.from_numpy(numpy_predictor(windows.numpy()))


@pytest.mark.parametrize(
    ("shape", "roi", "overlap", "mode", "batch"),
    [
        ((40, 34, 22), (16, 16, 16), 0.25, "gaussian", 4),
        ((10, 12, 9), (16, 16, 16), 0.25, "gaussian", 1),  # smaller than the window: padded
        ((33, 20, 17), (16, 8, 16), 0.5, "constant", 3),
        ((50, 40, 30), (24, 24, 24), 0.7, "gaussian", 2),
        ((16, 16, 16), (16, 16, 16), 0.25, "gaussian", 2),  # exactly one window
        ((20, 7, 30), (16, 16, 16), 0.0, "constant", 5),  # padded on one axis only, no overlap
    ],
)
def test_matches_monai_sliding_window_inference(shape, roi, overlap, mode, batch):
    image = np.random.default_rng(1).normal(size=(1, *shape)).astype(np.float32)
    expected = monai_inferers.sliding_window_inference(
        torch.from_numpy(image[None]), roi, batch, torch_predictor, overlap=overlap, mode=mode
    )[0].numpy()

    actual = sliding_window_predict(
        image, roi, numpy_predictor, sw_batch_size=batch, overlap=overlap, mode=mode
    )

    assert actual.shape == expected.shape == (3, *shape)
    assert actual.dtype == np.float32
    np.testing.assert_allclose(actual, expected, atol=1e-4, rtol=0)


@pytest.mark.parametrize("patch", [(16, 16, 16), (7, 9, 24)])
@pytest.mark.parametrize("sigma_scale", [0.125, (0.1, 0.2, 0.3)])
def test_gaussian_importance_map_matches_monai(patch, sigma_scale):
    expected = monai_data_utils.compute_importance_map(
        patch, mode="gaussian", sigma_scale=sigma_scale
    ).numpy()

    np.testing.assert_allclose(importance_map(patch, "gaussian", sigma_scale), expected, atol=1e-6)


def test_gaussian_weights_are_floored_so_corners_still_count():
    weights = importance_map((33, 33, 33), "gaussian", 0.05)
    assert weights.min() == pytest.approx(1e-3)
    assert weights.max() == pytest.approx(1.0)  # odd size: a voxel sits on the centre


def test_window_starts_cover_the_image_and_end_at_its_border():
    assert window_starts([40, 16, 17], [16, 16, 16], 0.25) == [[0, 12, 24], [0], [0, 1]]


def test_the_predictor_sees_batches_of_at_most_sw_batch_size():
    sizes = []

    def predictor(windows):
        sizes.append(windows.shape[0])
        return windows

    sliding_window_predict(
        np.zeros((1, 40, 40, 16), np.float32),
        (16, 16, 16),
        predictor,
        sw_batch_size=4,
        overlap=0.25,
    )

    assert sizes == [4, 4, 1]  # 3 x 3 x 1 windows


def test_a_predictor_changing_the_window_size_is_refused():
    with pytest.raises(ValueError, match="predictor returned shape"):
        sliding_window_predict(
            np.zeros((1, 16, 16, 16), np.float32), (16, 16, 16), lambda w: w[:, :, ::2]
        )


def test_roi_dimensions_must_match_the_image():
    with pytest.raises(ValueError, match="spatial axes"):
        sliding_window_predict(np.zeros((16, 16, 16), np.float32), (16, 16, 16), lambda w: w)
