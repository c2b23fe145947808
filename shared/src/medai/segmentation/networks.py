"""Segmentation networks: the contract training, MLflow and serving rely on, and MONAI's UNet.

Pure ``nn.Module``s: no data loading, logging or MLflow here; the training loop and the
registry code live in thin layers around them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from monai.networks.nets import UNet
from torch import nn

from medai.segmentation.settings import ModelSettings


class SegmentationNetwork(nn.Module, ABC):
    """A dense segmentation network: ``(N, C_in, *spatial)`` -> logits ``(N, K, *spatial)``."""

    spatial_dims: int
    in_channels: int
    num_classes: int
    size_divisor: int

    @abstractmethod
    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Logits for every class at every voxel."""

    def exportable(self) -> nn.Module:
        """The module to log to MLflow; subclasses wrapping a library network return it alone."""
        return self

    def input_shape(self) -> tuple[int, ...]:
        """The tensor signature of the input; -1 marks a free dimension."""
        return (-1, self.in_channels, *([-1] * self.spatial_dims))

    def output_shape(self) -> tuple[int, ...]:
        """The tensor signature of the output logits."""
        return (-1, self.num_classes, *([-1] * self.spatial_dims))

    def example_input(self, size: int | None = None) -> torch.Tensor:
        """A small valid input (for MLflow's input example and export checks)."""
        edge = size or self.size_divisor * 2
        return torch.zeros((1, self.in_channels, *([edge] * self.spatial_dims)))


class UNetSegmentationNetwork(SegmentationNetwork):
    """A 3D residual UNet (Kerfoot et al.) from MONAI with one input channel."""

    def __init__(self, settings: ModelSettings, num_classes: int) -> None:
        """Build the network from its config section and the dataset's number of labels."""
        super().__init__()
        self.spatial_dims = 3
        self.in_channels = 1
        self.num_classes = num_classes
        self.size_divisor = settings.size_divisor
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
        """The bare MONAI UNet: loading it back needs MONAI, not the project."""
        module: torch.nn.Module = self.unet
        return module

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, classes, X, Y, Z)``; spatial sizes must be multiples of ``size_divisor``."""
        logits: torch.Tensor = self.unet(image)
        return logits


def build_network(settings: ModelSettings, num_classes: int) -> SegmentationNetwork:
    """The network named by ``model.architecture``."""
    if settings.architecture == "unet":
        return UNetSegmentationNetwork(settings, num_classes)
    raise ValueError(f"unknown model.architecture {settings.architecture!r}")  # pragma: no cover
