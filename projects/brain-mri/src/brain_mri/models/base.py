"""The contract of every brain-mri network (the kit's): tensor shapes and divisor."""

from medai.segmentation.networks import SegmentationNetwork

__all__ = ["SegmentationNetwork"]
