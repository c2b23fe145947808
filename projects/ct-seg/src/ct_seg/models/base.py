"""The contract every ct-seg network keeps (the kit's), so nothing guesses tensor shapes."""

from medai.segmentation.networks import SegmentationNetwork

__all__ = ["SegmentationNetwork"]
