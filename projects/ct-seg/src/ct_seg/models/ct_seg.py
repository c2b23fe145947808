"""The ct-seg network: MONAI's residual 3D UNet on one CT channel (HU window in [0, 1])."""

from medai.segmentation.networks import UNetSegmentationNetwork, build_network

__all__ = ["UNetSegmentationNetwork", "build_network"]
