"""brain-mri's own network: MONAI's SegResNet (Myronenko, BraTS 2018 winner) on four channels.

The kind trains, checks (``check_network_fits``), exports and serves any
``SegmentationNetwork``; this module is what brain-mri brings: the encoder-decoder of
"3D MRI brain tumor segmentation using autoencoder regularization" (without the VAE
branch, and with instance or batch normalisation in place of its group norm), one
sigmoid output per nested region (whole tumour, tumour core, enhancing tumour).
``settings.model`` (``SegResNetSettings``) sets its width and depth.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from monai.networks.nets import SegResNet
from torch import nn

from medai.segmentation.networks import SegmentationNetwork

if TYPE_CHECKING:
    from brain_mri.settings import BrainMriSettings


class SegResNetSegmentationNetwork(SegmentationNetwork):
    """MONAI SegResNet: residual encoder blocks, a light decoder, group normalisation."""

    def __init__(self, settings: BrainMriSettings, in_channels: int, out_channels: int) -> None:
        """Build from ``settings.model`` and the data's channel and region counts."""
        super().__init__()
        model = settings.model
        self.spatial_dims = 3
        self.in_channels = in_channels
        self.num_classes = out_channels
        self.size_divisor = model.size_divisor
        self.segresnet = SegResNet(
            spatial_dims=3,
            init_filters=model.channels[0],
            in_channels=in_channels,
            out_channels=out_channels,
            dropout_prob=model.dropout or None,
            norm=model.norm.upper(),
            blocks_down=model.blocks_down,
            blocks_up=model.blocks_up,
        )

    def exportable(self) -> nn.Module:
        """The bare MONAI SegResNet: loading it back needs MONAI, not brain-mri."""
        module: nn.Module = self.segresnet
        return module

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, regions, X, Y, Z)``; sizes must be multiples of ``size_divisor``."""
        logits: torch.Tensor = self.segresnet(image)
        return logits


def build_network(
    settings: BrainMriSettings, in_channels: int, out_channels: int
) -> SegmentationNetwork:
    """brain-mri's network for the kind's ``SegmentationProject.network`` extension point."""
    return SegResNetSegmentationNetwork(settings, in_channels, out_channels)
