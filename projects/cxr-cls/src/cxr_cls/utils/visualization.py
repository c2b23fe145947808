"""cxr-cls figures: ROC curves, reliability diagram, Grad-CAM grids and overlay PNGs."""

from medai.classification.onnx_classifier import heatmap_overlay
from medai.classification.plots import plot_cam_grid, plot_reliability_diagram, plot_roc_curves

__all__ = ["heatmap_overlay", "plot_cam_grid", "plot_reliability_diagram", "plot_roc_curves"]
