"""Model-agnostic inference steps in numpy and scipy, for servers that must not load torch.

``grid`` plans the output grid of every resampling step from shape and affine alone;
``budget`` turns those plans into a prediction's cost (grids, windows, memory) and
refuses what exceeds the configured limits before anything is allocated; ``resample``
reproduces MONAI's reorientation, respacing, resampling back and HU window;
``sliding_window`` reproduces MONAI's sliding-window inferer around any predictor
(e.g. an ONNX Runtime session). Importing this package never imports torch or MONAI.
"""

from medai.inference.budget import (
    Grid,
    Stage,
    WindowPlan,
    WorkLimitError,
    WorkPlan,
    check_work,
    plan_volume_segmentation,
)
from medai.inference.grid import (
    AFFINE_TOL,
    GridOverflowError,
    ResamplePlan,
    SingularAffineError,
    plan_resample,
    reoriented_grid,
    spacing_grid,
)
from medai.inference.resample import (
    hu_window,
    reorient_to,
    resample_to_grid,
    resample_to_spacing,
)
from medai.inference.sliding_window import (
    BlendMode,
    Predictor,
    importance_map,
    padded_size,
    sliding_window_predict,
    window_counts,
    window_starts,
)

__all__ = [
    "AFFINE_TOL",
    "BlendMode",
    "Grid",
    "GridOverflowError",
    "Predictor",
    "ResamplePlan",
    "SingularAffineError",
    "Stage",
    "WindowPlan",
    "WorkLimitError",
    "WorkPlan",
    "check_work",
    "hu_window",
    "importance_map",
    "padded_size",
    "plan_resample",
    "plan_volume_segmentation",
    "reorient_to",
    "reoriented_grid",
    "resample_to_grid",
    "resample_to_spacing",
    "sliding_window_predict",
    "spacing_grid",
    "window_counts",
    "window_starts",
]
