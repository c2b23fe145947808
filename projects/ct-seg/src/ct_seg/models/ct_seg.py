"""The ct-seg network: MONAI's residual UNet."""

from __future__ import annotations

import math

import torch
from monai.networks.nets import UNet

from ct_seg.models.base import SegmentationNetwork
from ct_seg.settings import ModelSettings


class CtSegUNet(SegmentationNetwork):
    """A 3D residual UNet (Kerfoot et al.) from MONAI, one input channel (CT in HU-window units)."""

    def __init__(self, settings: ModelSettings, num_classes: int) -> None:
        """Build the network from its config section and the dataset's number of labels."""
        super().__init__()
        self.spatial_dims = 3
        self.in_channels = 1
        self.num_classes = num_classes
        self.size_divisor = math.prod(settings.strides)
        self.unet = UNet(
            spatial_dims=3,
            in_channels=1,
            out_channels=num_classes,
            channels=settings.channels,
            strides=settings.strides,
            num_res_units=settings.num_res_units,
            norm=settings.norm,
            dropout=settings.dropout,
        )

    def exportable(self) -> torch.nn.Module:
        """The bare MONAI UNet: loading it back needs MONAI, not this project."""
        module: torch.nn.Module = self.unet
        return module

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, classes, X, Y, Z)``; spatial sizes must be multiples of ``size_divisor``."""
        logits: torch.Tensor = self.unet(image)
        return logits


def build_network(settings: ModelSettings, num_classes: int) -> SegmentationNetwork:
    """The network named by ``model.architecture``."""
    if settings.architecture == "unet":
        return CtSegUNet(settings, num_classes)
    raise ValueError(f"unknown model.architecture {settings.architecture!r}")  # pragma: no cover
