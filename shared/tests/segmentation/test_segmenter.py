"""Sliding-window segmentation returns masks on the input's own grid, whatever its geometry."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from medai.segmentation.segmenter import Segmenter
from medai.segmentation.settings import InferenceSettings, PreprocessingSettings


class ThresholdNet(torch.nn.Module):
    """A 'perfect' two-class model for bright objects: logits from the windowed intensity."""

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        foreground = (image > 0.5).float()
        return torch.cat([1 - foreground, foreground], dim=1) * 10


@pytest.mark.parametrize(
    "affine",
    [
        np.diag([1.5, 1.5, 1.5, 1.0]),
        np.array(
            [[-0.8, 0, 0, 40.0], [0, -1.1, 0, 20.0], [0, 0, 2.5, -30.0], [0, 0, 0, 1]]
        ),  # LPS-like, anisotropic
        np.array(
            [[0, 1.2, 0, 0.0], [0.9, 0, 0, 0.0], [0, 0, -2.0, 10.0], [0, 0, 0, 1]]
        ),  # axes swapped
    ],
    ids=["isotropic-ras", "lps-anisotropic", "swapped-axes"],
)
def test_segment_returns_mask_on_the_input_grid(affine, make_sphere):
    volume, truth = make_sphere((40, 34, 22), affine, noise=0)
    segmenter = Segmenter(
        ThresholdNet(),
        PreprocessingSettings(patch_size=(16, 16, 16), target_spacing=(1.5, 1.5, 1.5)),
        InferenceSettings(sw_batch_size=4, overlap=0.25),
    )
    mask = segmenter.segment(volume)
    assert mask.shape == volume.shape
    assert mask.dtype == np.uint8
    dice = 2 * np.logical_and(mask == 1, truth).sum() / ((mask == 1).sum() + truth.sum())
    assert dice > 0.9, f"mask misplaced after resampling back: Dice {dice:.3f}"


def test_segment_handles_volume_smaller_than_the_patch(make_sphere):
    volume, truth = make_sphere((10, 12, 9), np.diag([3.0, 3.0, 3.0, 1.0]), noise=0)
    segmenter = Segmenter(
        ThresholdNet(),
        PreprocessingSettings(patch_size=(32, 32, 32)),
        InferenceSettings(sw_batch_size=1),
    )
    mask = segmenter.segment(volume)
    assert mask.shape == (10, 12, 9)
    assert (mask[truth] == 1).mean() > 0.8
