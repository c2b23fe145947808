"""The brain-mri network: MONAI's residual 3D UNet on one MRI channel."""

from medai.segmentation.networks import UNetSegmentationNetwork, build_network

__all__ = ["UNetSegmentationNetwork", "build_network"]
