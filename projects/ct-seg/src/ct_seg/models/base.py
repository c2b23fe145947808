"""The contract every ct-seg network keeps, so training, MLflow and serving never guess shapes."""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from torch import nn


class SegmentationNetwork(nn.Module, ABC):
    """A dense segmentation network: ``(N, C_in, *spatial)`` -> logits ``(N, classes, *spatial)``.

    Pure ``nn.Module``: no data loading, logging or MLflow here; the training loop and
    the registry code live in thin layers around it.
    """

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
