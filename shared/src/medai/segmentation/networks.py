"""Segmentation networks: the contract training, MLflow and serving rely on, and MONAI's UNet.

Pure ``nn.Module``s: no data loading, logging or MLflow here; the training loop and the
registry code live in thin layers around them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from monai.networks.nets import UNet
from torch import nn

from medai.engine.network_fit import NetworkFit
from medai.engine.network_fit import check_network_fits as check_fits
from medai.errors import NetworkContractError
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
    """A 3D residual UNet (Kerfoot et al.) from MONAI."""

    def __init__(self, settings: ModelSettings, num_classes: int, in_channels: int = 1) -> None:
        """Build the network from its config section and the dataset's channels and labels."""
        super().__init__()
        self.spatial_dims = 3
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.size_divisor = settings.size_divisor
        self.unet = UNet(
            spatial_dims=3,
            in_channels=in_channels,
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


def build_network(
    settings: ModelSettings, num_classes: int, in_channels: int = 1
) -> SegmentationNetwork:
    """The network named by ``model.architecture``."""
    if settings.architecture == "unet":
        return UNetSegmentationNetwork(settings, num_classes, in_channels)
    raise ValueError(f"unknown model.architecture {settings.architecture!r}")  # pragma: no cover


def check_network_fits(
    network: SegmentationNetwork,
    in_channels: int,
    out_channels: int,
    *,
    outputs: str = "labels (background included)",
    spatial_dims: int = 3,
) -> None:
    """Refuse a network whose channels or dimensions differ from the data's, before training.

    Both the declared attributes and one forward pass of a small input are checked, so a
    project network that declares one thing and computes another is caught too (the
    kind-neutral rule: ``medai.engine.network_fit``).

    Args:
        network: The network about to train (the kind's UNet or a project's own).
        in_channels: The dataset's image channels.
        out_channels: The outputs the data needs: one per label (softmax) or one per
            region (sigmoid).
        outputs: What the outputs are, for the message (``"regions (whole_tumour, ...)"``).
        spatial_dims: The data's spatial dimensions (the kind's pipeline reads volumes: 3).

    Raises:
        NetworkContractError: naming the expected and the network's numbers.
    """
    if network.spatial_dims != spatial_dims:
        message = (
            f"{type(network).__name__} is a {network.spatial_dims}D network but the dataset's "
            f"images are {spatial_dims}D"
        )
        raise NetworkContractError(message)
    check_fits(
        network,
        (network.in_channels, network.num_classes),
        network.example_input(),
        NetworkFit(in_channels, out_channels, outputs),
    )
