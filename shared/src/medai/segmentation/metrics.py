"""Per-case segmentation metrics: Dice and the 95th-percentile Hausdorff distance (mm).

Scored per structure: a label of a label-based model, or a region (``Regions``: nested
label sets such as whole tumour / tumour core / enhancing tumour) of a region model,
both compared as binary masks on the case's own grid and spacing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from monai.metrics import compute_dice, compute_hausdorff_distance

from medai.segmentation.regions import Regions, region_masks


@dataclass(frozen=True)
class CaseScore:
    """Scores of one structure in one case."""

    label: str
    dice: float
    hd95_mm: float


def score_case(
    prediction: np.ndarray, truth: np.ndarray, labels: Mapping[int, str], spacing: Sequence[float]
) -> list[CaseScore]:
    """Dice and HD95 for every foreground label of one case (``score_mask``'s conventions)."""
    return [
        score_mask(prediction == value, truth == value, name, spacing)
        for value, name in labels.items()
        if value != 0
    ]


def score_regions(
    prediction: np.ndarray, truth: np.ndarray, regions: Regions, spacing: Sequence[float]
) -> list[CaseScore]:
    """Dice and HD95 for every region of one case, from its two label maps."""
    predicted, true = region_masks(prediction, regions), region_masks(truth, regions)
    return [
        score_mask(p, t, name, spacing)
        for p, t, name in zip(predicted, true, regions.names, strict=True)
    ]


def score_mask(
    prediction: np.ndarray, truth: np.ndarray, name: str, spacing: Sequence[float]
) -> CaseScore:
    """Dice and HD95 (mm, MONAI's, with the voxel spacing) of one binary structure.

    Conventions where MONAI returns NaN: a structure absent from both truth and
    prediction scores Dice 1 and HD95 0; absent from only one, Dice 0 and HD95 NaN
    (left out of the HD95 mean and counted separately by the caller).
    """
    pred = torch.from_numpy(np.ascontiguousarray(prediction, dtype=bool))[None, None]
    true = torch.from_numpy(np.ascontiguousarray(truth, dtype=bool))[None, None]
    has_pred, has_true = bool(pred.any()), bool(true.any())
    if not has_pred and not has_true:
        return CaseScore(name, 1.0, 0.0)
    if not has_pred or not has_true:
        return CaseScore(name, 0.0, float("nan"))
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
    return CaseScore(name, dice, hd95)
