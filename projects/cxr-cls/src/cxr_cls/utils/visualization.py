"""cxr-cls uses the kind's figures: ROC curves, reliability diagram, Grad-CAM grids, overlays.

To draw more, write an ``EvaluationFigures`` here (``medai.classification.extensions``) and
hand it to ``ClassificationProject(figures=...)``; they are logged beside the kind's.
"""

from medai.classification.onnx_classifier import heatmap_overlay
from medai.classification.plots import plot_cam_grid, plot_reliability_diagram, plot_roc_curves

__all__ = ["heatmap_overlay", "plot_cam_grid", "plot_reliability_diagram", "plot_roc_curves"]
