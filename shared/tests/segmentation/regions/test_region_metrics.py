"""Per-region scores: nested regions compared as masks, HD95 in millimetres."""

from __future__ import annotations

import numpy as np
import pytest

from medai.segmentation.metrics import score_regions
from medai.segmentation.regions import Regions

BRATS = Regions(
    ("whole_tumour", "tumour_core", "enhancing_tumour"), ((1, 2, 3), (2, 3), (3,)), (1, 2, 3)
)


def test_a_label_swap_inside_the_core_costs_only_the_enhancing_region():
    truth = np.zeros((12, 12, 12), dtype=np.uint8)
    truth[2:10, 2:10, 2:10] = 1
    truth[4:8, 4:8, 4:8] = 3
    truth[5:7, 5:7, 5:7] = 2
    prediction = truth.copy()
    prediction[prediction == 2] = 3  # necrosis called enhancing: same core, more ET

    scores = {s.label: s for s in score_regions(prediction, truth, BRATS, (1.0, 1.0, 1.0))}

    assert scores["whole_tumour"].dice == pytest.approx(1.0)
    assert scores["tumour_core"].dice == pytest.approx(1.0)
    et_truth, et_pred = 64 - 8, 64
    assert scores["enhancing_tumour"].dice == pytest.approx(2 * et_truth / (et_truth + et_pred))


def test_hd95_is_measured_with_the_voxel_spacing():
    truth = np.zeros((10, 10, 10), dtype=np.uint8)
    truth[2:5, 2:5, 2:5] = 3
    prediction = np.roll(truth, 2, axis=0)

    one = {s.label: s for s in score_regions(prediction, truth, BRATS, (1.0, 1.0, 1.0))}
    two = {s.label: s for s in score_regions(prediction, truth, BRATS, (2.0, 1.0, 1.0))}

    assert one["enhancing_tumour"].hd95_mm == pytest.approx(2.0)
    assert two["enhancing_tumour"].hd95_mm == pytest.approx(4.0)


def test_a_region_missing_from_both_scores_one_and_from_one_side_zero():
    truth = np.zeros((6, 6, 6), dtype=np.uint8)
    truth[1:3, 1:3, 1:3] = 1
    prediction = np.zeros_like(truth)

    scores = {s.label: s for s in score_regions(prediction, truth, BRATS, (1.0, 1.0, 1.0))}

    assert scores["whole_tumour"].dice == 0.0
    assert np.isnan(scores["whole_tumour"].hd95_mm)
    assert (scores["enhancing_tumour"].dice, scores["enhancing_tumour"].hd95_mm) == (1.0, 0.0)
