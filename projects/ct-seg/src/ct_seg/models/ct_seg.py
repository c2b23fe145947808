"""ct-seg uses the kind's network: MONAI's residual UNet, shaped by its config.

To bring its own, subclass ``SegmentationNetwork`` here (any input channels, 2D or 3D,
one output per label or per region) and hand a factory
``(settings, in_channels, out_channels) -> network`` to ``SegmentationProject(network=...)``
in ``settings.py``; training checks it fits the data before it starts.
"""

from medai.segmentation.networks import UNetSegmentationNetwork, build_network

__all__ = ["UNetSegmentationNetwork", "build_network"]
