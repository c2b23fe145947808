"""ct-seg's figures: CT slices with organ and lesion overlays.

The learning curves are the training engine's (``medai.engine.curves``).
"""

from medai.segmentation.plots import plot_overlays

__all__ = ["plot_overlays"]
