"""Intensity normalisation: the numpy definition and the MONAI chain give the same values."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor

from medai.inference.normalize import normalize_intensity, zscore_nonzero
from medai.segmentation.settings import PreprocessingSettings
from medai.segmentation.transforms import IMAGE, intensity_normalisation


def head(seed: int = 0) -> np.ndarray:
    """Four channels of positive intensities inside a ball, exactly zero outside."""
    rng = np.random.default_rng(seed)
    grid = np.indices((12, 12, 12)) - 5.5
    inside = (grid**2).sum(axis=0) < 25
    scales = np.array([100.0, 400.0, 50.0, 900.0])[:, None, None, None]
    return np.where(inside, rng.gamma(4.0, 1.0, size=(4, 12, 12, 12)) * scales, 0.0)


def test_zscore_standardises_each_channel_over_its_nonzero_voxels():
    image = head()
    out = zscore_nonzero(image)
    inside = image[0] != 0
    for channel in out:
        assert channel[inside].mean() == pytest.approx(0.0, abs=1e-5)
        assert channel[inside].std() == pytest.approx(1.0, abs=1e-5)
        assert np.all(channel[~inside] == 0)


def test_a_constant_or_empty_channel_does_not_divide_by_zero():
    image = np.zeros((2, 4, 4, 4))
    image[0, 1:3] = 7.0
    out = zscore_nonzero(image)
    assert np.all(np.isfinite(out))
    assert np.all(out == 0)


@pytest.mark.parametrize("mode", ["window", "zscore"])
def test_the_monai_chain_matches_the_numpy_definition(mode):
    prep = PreprocessingSettings(normalize=mode, intensity_min=0, intensity_max=2000)
    image = head(seed=3).astype(np.float32)
    monai = intensity_normalisation(prep)({IMAGE: MetaTensor(torch.from_numpy(image.copy()))})
    expected = normalize_intensity(image, prep.normalize, prep.window)
    np.testing.assert_allclose(np.asarray(monai[IMAGE]), expected, rtol=1e-5, atol=1e-5)


def test_window_mode_maps_the_window_to_the_unit_interval():
    out = normalize_intensity(np.array([[-100.0, 0.0, 50.0, 200.0]]), "window", (0.0, 100.0))
    assert out.tolist() == [[0.0, 0.0, 0.5, 1.0]]


def test_an_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="normalize must be 'window' or 'zscore', got 'minmax'"):
        normalize_intensity(np.zeros((1, 2)), "minmax", (0.0, 1.0))  # type: ignore[arg-type]
