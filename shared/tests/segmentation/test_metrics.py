"""Dice and HD95 per structure, including the empty-structure conventions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from medai.segmentation.metrics import score_case

LABELS = {0: "background", 1: "organ", 2: "lesion"}


def cube(shape, start, stop, value=1):
    volume = np.zeros(shape, np.uint8)
    volume[tuple(slice(a, b) for a, b in zip(start, stop, strict=True))] = value
    return volume


def test_identical_masks_score_dice_one_and_hd95_zero():
    truth = cube((20, 20, 20), (5, 5, 5), (15, 15, 15))
    scores = {s.label: s for s in score_case(truth, truth, LABELS, (1.0, 1.0, 1.0))}
    assert scores["organ"].dice == pytest.approx(1.0)
    assert scores["organ"].hd95_mm == pytest.approx(0.0)
    # lesion absent from both: the agreed convention
    assert (scores["lesion"].dice, scores["lesion"].hd95_mm) == (1.0, 0.0)


def test_shifted_mask_has_expected_dice_and_hd95_in_millimetres():
    truth = cube((30, 30, 30), (5, 5, 5), (15, 15, 15))
    shifted = cube((30, 30, 30), (7, 5, 5), (17, 15, 15))
    organ = score_case(shifted, truth, LABELS, (2.0, 1.0, 1.0))[0]
    assert organ.dice == pytest.approx(0.8)  # overlap 8 of 10 slabs
    assert organ.hd95_mm == pytest.approx(4.0)  # 2 voxels x 2 mm along the first axis


def test_missed_structure_scores_zero_dice_and_undefined_hd95():
    truth = cube((10, 10, 10), (2, 2, 2), (5, 5, 5), value=2)
    lesion = score_case(np.zeros_like(truth), truth, LABELS, (1.0, 1.0, 1.0))[1]
    assert lesion.dice == 0.0
    assert math.isnan(lesion.hd95_mm)
