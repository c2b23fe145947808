"""brain-mri's metrics: the kind's Dice and HD95 per nested region, and its tumour volumes.

The kind scores every region (whole tumour, tumour core, enhancing tumour) by Dice and
HD95 in millimetres, with 95% bootstrap CIs over cases. brain-mri adds what a
neuro-oncologist reads next to them: how far the segmented volume of each region is from
the true one, in millilitres (response assessment follows tumour volume over time, and a
good Dice on a large oedema can hide a core that is off by a few ml).
``METRICS`` is the project's ``metrics`` extension point; the evaluation reports
``abs_volume_error_ml_<region>`` with the same CIs, and the deployment gate reads it
lower-is-better.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np
from numpy.typing import NDArray

from medai.segmentation.extensions import StructureMetric

__all__ = ["METRICS", "abs_volume_error_ml"]

_MM3_PER_ML: Final = 1000.0


def abs_volume_error_ml(
    predicted: NDArray[np.bool_], true: NDArray[np.bool_], spacing: Sequence[float]
) -> float:
    """``|V_predicted - V_true|`` of one region in ml, on the case's own voxel spacing."""
    voxel_ml = float(np.prod(np.asarray(spacing, dtype=np.float64))) / _MM3_PER_ML
    return abs(int(np.count_nonzero(predicted)) - int(np.count_nonzero(true))) * voxel_ml


METRICS: Final = (
    StructureMetric("abs_volume_error_ml", abs_volume_error_ml, higher_is_better=False),
)
"""brain-mri's metrics beside the kind's Dice and HD95 (``SegmentationProject.metrics``)."""
