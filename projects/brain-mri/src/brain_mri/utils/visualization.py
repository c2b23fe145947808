"""brain-mri's figures: learning curves and slices with the label overlays."""

from medai.segmentation.plots import plot_learning_curves, plot_overlays

__all__ = ["plot_learning_curves", "plot_overlays"]
