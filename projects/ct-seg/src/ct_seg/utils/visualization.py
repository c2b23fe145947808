"""ct-seg's figures: learning curves, and CT slices with organ and lesion overlays."""

from medai.segmentation.plots import plot_learning_curves, plot_overlays

__all__ = ["plot_learning_curves", "plot_overlays"]
