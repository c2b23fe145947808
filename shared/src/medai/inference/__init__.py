"""Model-agnostic inference steps in numpy and scipy, for servers that must not load torch.

``resample`` reproduces MONAI's reorientation, respacing, resampling back and HU window;
``sliding_window`` reproduces MONAI's sliding-window inferer around any predictor
(e.g. an ONNX Runtime session). Importing this package never imports torch or MONAI.
"""

from medai.inference.resample import (
    AFFINE_TOL,
    hu_window,
    reorient_to,
    resample_to_grid,
    resample_to_spacing,
    spacing_grid,
)
from medai.inference.sliding_window import (
    BlendMode,
    Predictor,
    importance_map,
    sliding_window_predict,
    window_starts,
)

__all__ = [
    "AFFINE_TOL",
    "BlendMode",
    "Predictor",
    "hu_window",
    "importance_map",
    "reorient_to",
    "resample_to_grid",
    "resample_to_spacing",
    "sliding_window_predict",
    "spacing_grid",
    "window_starts",
]
