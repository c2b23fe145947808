"""Networks of ct-seg (code only; trained weights live in MLflow, never in the repo)."""

from ct_seg.models.base import SegmentationNetwork
from ct_seg.models.ct_seg import CtSegUNet, build_network

__all__ = ["CtSegUNet", "SegmentationNetwork", "build_network"]
