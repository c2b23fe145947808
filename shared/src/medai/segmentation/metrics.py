"""Per-case segmentation metrics: Dice and the 95th-percentile Hausdorff distance (mm)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from monai.metrics import compute_dice, compute_hausdorff_distance


@dataclass(frozen=True)
class CaseScore:
    """Scores of one structure in one case."""

    label: str
    dice: float
    hd95_mm: float


def score_case(
    prediction: np.ndarray, truth: np.ndarray, labels: Mapping[int, str], spacing: Sequence[float]
) -> list[CaseScore]:
    """Dice and HD95 for every foreground label of one case.

    Conventions where MONAI returns NaN: a structure absent from both truth and
    prediction scores Dice 1 and HD95 0; absent from only one, Dice 0 and HD95 NaN
    (left out of the HD95 mean and counted separately by the caller).
    """
    scores = []
    for value, name in labels.items():
        if value == 0:
            continue
        pred = torch.from_numpy(prediction == value)[None, None]
        true = torch.from_numpy(truth == value)[None, None]
        has_pred, has_true = bool(pred.any()), bool(true.any())
        if not has_pred and not has_true:
            scores.append(CaseScore(name, 1.0, 0.0))
            continue
        if not has_pred or not has_true:
            scores.append(CaseScore(name, 0.0, float("nan")))
            continue
        dice = float(compute_dice(pred.float(), true.float(), include_background=True))
        hd95 = float(
            compute_hausdorff_distance(
                pred.float(),
                true.float(),
                include_background=True,
                percentile=95,
                spacing=list(spacing),
            )
        )
        scores.append(CaseScore(name, dice, hd95))
    return scores
