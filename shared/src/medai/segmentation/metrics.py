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


@dataclass(frozen=True)
class StructureMasks:
    """One structure of one case as two binary masks: what a metric compares."""

    name: str
    predicted: np.ndarray
    true: np.ndarray


def structure_masks(
    prediction: np.ndarray, truth: np.ndarray, structures: Mapping[int, str] | Regions
) -> list[StructureMasks]:
    """Each foreground label (a label map's ``labels``) or each region, as binary masks."""
    if isinstance(structures, Regions):
        predicted, true = region_masks(prediction, structures), region_masks(truth, structures)
        return [
            StructureMasks(name, p, t)
            for name, p, t in zip(structures.names, predicted, true, strict=True)
        ]
    return [
        StructureMasks(name, prediction == value, truth == value)
        for value, name in structures.items()
        if value != 0
    ]


def score_case(
    prediction: np.ndarray, truth: np.ndarray, labels: Mapping[int, str], spacing: Sequence[float]
) -> list[CaseScore]:
    """Dice and HD95 for every foreground label of one case (``score_mask``'s conventions)."""
    return [
        score_mask(s.predicted, s.true, s.name, spacing)
        for s in structure_masks(prediction, truth, labels)
    ]


def score_regions(
    prediction: np.ndarray, truth: np.ndarray, regions: Regions, spacing: Sequence[float]
) -> list[CaseScore]:
    """Dice and HD95 for every region of one case, from its two label maps."""
    return [
        score_mask(s.predicted, s.true, s.name, spacing)
        for s in structure_masks(prediction, truth, regions)
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
