"""brain-mri's own network: MONAI's SegResNet (Myronenko, BraTS 2018 winner) on four channels.

The kind trains, checks (``check_network_fits``), exports and serves any
``SegmentationNetwork``; this module is what brain-mri brings: the encoder-decoder of
"3D MRI brain tumor segmentation using autoencoder regularization" (without the VAE
branch, and with instance or batch normalisation in place of its group norm), one
sigmoid output per nested region (whole tumour, tumour core, enhancing tumour).

SegResNet works at full resolution from its first layer, about ten times the work per
patch of a UNet whose first convolution is strided. ``model.stem_stride: 2`` puts a
strided convolution before it and a trilinear upsampling after (the development config,
so it trains on a CPU in minutes); ``1`` is the network of the paper (production).
``settings.model`` (``SegResNetSettings``) sets width, depth and stem.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from monai.networks.blocks import Convolution
from monai.networks.nets import SegResNet
from torch import nn

from medai.segmentation.networks import SegmentationNetwork

if TYPE_CHECKING:
    from brain_mri.settings import BrainMriSettings


class SegResNetSegmentationNetwork(SegmentationNetwork):
    """MONAI SegResNet, optionally behind a strided stem and followed by an upsampling."""

    def __init__(self, settings: BrainMriSettings, in_channels: int, out_channels: int) -> None:
        """Build from ``settings.model`` and the data's channel and region counts."""
        super().__init__()
        model = settings.model
        width = model.channels[0]
        self.spatial_dims = 3
        self.in_channels = in_channels
        self.num_classes = out_channels
        self.size_divisor = model.size_divisor
        stemmed = model.stem_stride > 1
        layers: list[nn.Module] = []
        if stemmed:
            layers.append(
                Convolution(
                    3,
                    in_channels,
                    width,
                    strides=model.stem_stride,
                    kernel_size=3,
                    norm=model.norm.upper(),
                    act="RELU",
                )
            )
        layers.append(
            SegResNet(
                spatial_dims=3,
                init_filters=width,
                in_channels=width if stemmed else in_channels,
                out_channels=out_channels,
                dropout_prob=model.dropout or None,
                norm=model.norm.upper(),
                blocks_down=model.blocks_down,
                blocks_up=model.blocks_up,
            )
        )
        if stemmed:
            layers.append(
                nn.Upsample(scale_factor=model.stem_stride, mode="trilinear", align_corners=False)
            )
        # Only torch and MONAI modules: loading the logged model back needs no brain-mri.
        self.layers = nn.Sequential(*layers)

    def exportable(self) -> nn.Module:
        """The stem, SegResNet and upsampling as one ``nn.Sequential`` of library modules."""
        return self.layers

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, regions, X, Y, Z)``; sizes must be multiples of ``size_divisor``."""
        logits: torch.Tensor = self.layers(image)
        return logits


def build_network(
    settings: BrainMriSettings, in_channels: int, out_channels: int
) -> SegmentationNetwork:
    """brain-mri's network for the kind's ``SegmentationProject.network`` extension point."""
    return SegResNetSegmentationNetwork(settings, in_channels, out_channels)
