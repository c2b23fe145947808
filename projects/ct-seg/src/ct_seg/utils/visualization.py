"""ct-seg uses the kind's evaluation figure: one slice per case, every structure.

To draw its own, write an ``OverlayFigure`` here (``medai.segmentation.extensions``) and
hand it to ``SegmentationProject(overlays=...)``. Learning curves are the engine's.
"""

from medai.segmentation.plots import default_overlays

__all__ = ["default_overlays"]
