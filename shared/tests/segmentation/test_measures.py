"""Volumes in millilitres, display windows and the busiest slice of a label map."""

from __future__ import annotations

import numpy as np
import pytest

from medai.segmentation.measures import display_window, label_volumes_ml, most_labelled_slice


def test_label_volumes_use_the_voxel_size_and_skip_background():
    mask = np.zeros((10, 10, 10), np.uint8)
    mask[:2, :5, :] = 1  # 100 voxels
    mask[9, 9, 9] = 2

    volumes = label_volumes_ml(mask, (2.0, 1.0, 0.5), {0: "background", 1: "organ", 2: "lesion"})

    assert volumes == pytest.approx({"organ": 0.1, "lesion": 0.001})


def test_display_window_maps_the_window_to_zero_one_and_clips():
    image = np.array([-1000.0, -200.0, 50.0, 300.0, 2000.0])
    np.testing.assert_allclose(display_window(image, -200, 300), [0.0, 0.0, 0.5, 1.0, 1.0])


def test_most_labelled_slice_finds_the_busiest_and_defaults_to_the_middle():
    mask = np.zeros((4, 4, 9), np.uint8)
    mask[:, :, 6] = 1
    mask[0, 0, 2] = 1
    assert most_labelled_slice(mask) == 6
    assert most_labelled_slice(mask, axis=0) == 0
    assert most_labelled_slice(np.zeros((4, 4, 9))) == 4
