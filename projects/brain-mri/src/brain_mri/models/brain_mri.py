"""brain-mri's own network: MONAI's SegResNet (Myronenko, BraTS 2018 winner) on four channels.

The kind trains, checks (``check_network_fits``), exports and serves any
``SegmentationNetwork``; this module is what brain-mri brings: the encoder-decoder of
"3D MRI brain tumor segmentation using autoencoder regularization" (without the VAE
branch, and with instance or batch normalisation in place of its group norm), one
sigmoid output per nested region (whole tumour, tumour core, enhancing tumour).

SegResNet works at full resolution from its first layer, about ten times the work per
patch of a UNet whose first convolution is strided. ``model.stem_stride: 2`` (the
development config, so it trains on a CPU in minutes) runs SegResNet at half resolution
behind a strided convolution, upsamples its *features* (not logits) back and
concatenates them with the input image; one full-resolution convolution then gives the
logits. Upsampled half-resolution logits alone (the first version) learnt the whole
tumour but left tumour core and enhancing tumour, a few voxels across, at Dice 0 after
30 epochs on the phantoms (mean 0.3); with the full-resolution head all three regions
pass 0.8 by epoch 5. ``1`` is the network of the paper (production), with neither stem
nor head. ``settings.model`` (``SegResNetSettings``) sets width, depth and stem.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from monai.networks.blocks import Convolution
from monai.networks.layers import SkipConnection
from monai.networks.nets import SegResNet
from torch import nn

from medai.segmentation.networks import SegmentationNetwork

if TYPE_CHECKING:
    from brain_mri.settings import BrainMriSettings, SegResNetSettings


def _segresnet(model: SegResNetSettings, in_channels: int, out_channels: int) -> SegResNet:
    return SegResNet(
        spatial_dims=3,
        init_filters=model.channels[0],
        in_channels=in_channels,
        out_channels=out_channels,
        dropout_prob=model.dropout or None,
        norm=model.norm.upper(),
        blocks_down=model.blocks_down,
        blocks_up=model.blocks_up,
    )


def _stemmed(model: SegResNetSettings, in_channels: int, out_channels: int) -> nn.Sequential:
    """Strided stem -> SegResNet -> upsampled features, beside the input; a full-res head."""
    width = model.channels[0]
    half_resolution = nn.Sequential(
        Convolution(
            3,
            in_channels,
            width,
            strides=model.stem_stride,
            kernel_size=3,
            norm=model.norm.upper(),
            act="RELU",
        ),
        _segresnet(model, width, width),  # features, not logits, come back up
        nn.Upsample(scale_factor=model.stem_stride, mode="trilinear", align_corners=False),
    )
    return nn.Sequential(
        SkipConnection(half_resolution, dim=1, mode="cat"),  # [image, features]
        Convolution(3, in_channels + width, out_channels, kernel_size=3, conv_only=True),
    )


class SegResNetSegmentationNetwork(SegmentationNetwork):
    """MONAI SegResNet, optionally at half resolution between a strided stem and a full-res head."""

    def __init__(self, settings: BrainMriSettings, in_channels: int, out_channels: int) -> None:
        """Build from ``settings.model`` and the data's channel and region counts."""
        super().__init__()
        model = settings.model
        self.spatial_dims = 3
        self.in_channels = in_channels
        self.num_classes = out_channels
        self.size_divisor = model.size_divisor
        # Only torch and MONAI modules: loading the logged model back needs no brain-mri.
        self.layers: nn.Module = (
            _stemmed(model, in_channels, out_channels)
            if model.stem_stride > 1
            else _segresnet(model, in_channels, out_channels)
        )

    def exportable(self) -> nn.Module:
        """SegResNet (with stem, skip and head when stemmed): torch and MONAI modules only."""
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
