"""The contract of every ct-seg network (the kit's): tensor shapes and divisor."""

from medai.segmentation.networks import SegmentationNetwork

__all__ = ["SegmentationNetwork"]
