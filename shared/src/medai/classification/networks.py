"""A multi-label 2D classifier whose class activation maps are its Grad-CAM.

``CamClassifier`` is a MONAI DenseNet trained from scratch, with its head reduced to global
average pooling and one linear layer. For that head the gradient of logit ``k`` with
respect to feature map ``A_c`` is the constant ``w_kc / (h * w)``, so Grad-CAM's channel
weights are the linear weights (up to that constant) and

    Grad-CAM_k = ReLU(sum_c w_kc * A_c) / (h * w)   (= CAM_k, Zhou et al. 2016)

needs no backward pass. ``exportable()`` computes it in the forward pass, so an ONNX export
gives the torch-free server both logits and heatmaps. (A model whose head is not GAP +
linear would need real Grad-CAM and torch at serving time.)
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from monai.networks.nets import DenseNet
from torch import nn

from medai.engine.network_fit import NetworkFit
from medai.engine.network_fit import check_network_fits as check_fits
from medai.errors import NetworkContractError

_STEM_STRIDE = 4
"""DenseNet's stem: a stride-2 convolution, then a stride-2 max-pool."""


class CamClassifier(nn.Module):
    """MONAI DenseNet features -> ReLU -> global average pooling -> one linear layer.

    The defaults are a small DenseNet (about 0.1 M parameters) that trains on a CPU; the
    feature maps are the input downsampled by ``downsampling`` (e.g. 224 -> 14 with three
    dense blocks), which sets the CAM's native resolution.
    """

    def __init__(
        self,
        num_labels: int,
        *,
        in_channels: int = 1,
        init_features: int = 16,
        growth_rate: int = 12,
        block_config: Sequence[int] = (4, 4, 4),
        bn_size: int = 4,
        dropout_prob: float = 0.0,
    ) -> None:
        """Build the network with fresh (Kaiming) weights.

        Args:
            num_labels: Number of independent labels ``K`` (one logit each).
            in_channels: Image channels (1 for radiographs).
            init_features: Channels of the stem convolution.
            growth_rate: Channels each dense layer adds.
            block_config: Dense layers per block; each block after the first halves the
                resolution.
            bn_size: Bottleneck width factor of the dense layers.
            dropout_prob: Dropout inside the dense layers.

        Raises:
            ValueError: If ``num_labels`` or ``in_channels`` is not positive or
                ``block_config`` is empty.
        """
        super().__init__()
        if num_labels < 1:
            raise ValueError(f"num_labels must be at least 1, got {num_labels}")
        if in_channels < 1:
            raise ValueError(f"in_channels must be at least 1, got {in_channels}")
        if not block_config:
            raise ValueError("block_config must name at least one dense block, got none")
        backbone = DenseNet(
            spatial_dims=2,
            in_channels=in_channels,
            out_channels=num_labels,
            init_features=init_features,
            growth_rate=growth_rate,
            block_config=tuple(block_config),
            bn_size=bn_size,
            dropout_prob=dropout_prob,
        )
        head = backbone.class_layers.out
        if not isinstance(head, nn.Linear):  # pragma: no cover - MONAI's layout changed
            raise TypeError(f"expected MONAI DenseNet's head to end in nn.Linear, got {head}")
        self.features: nn.Sequential = backbone.features
        # Not in place: Grad-CAM hooks (and the CAM test) read this module's output.
        self.activation = nn.ReLU()
        self.classifier = nn.Linear(head.in_features, num_labels)
        self.num_labels = num_labels
        self.in_channels = in_channels
        self.downsampling = _STEM_STRIDE * 2 ** (len(block_config) - 1)

    def feature_maps(self, image: torch.Tensor) -> torch.Tensor:
        """The final feature maps ``A`` ``(N, C, h, w)``, after the ReLU the head pools."""
        maps: torch.Tensor = self.activation(self.features(image))
        return maps

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, K)`` of ``image`` ``(N, in_channels, H, W)``."""
        logits: torch.Tensor = self.classifier(self.feature_maps(image).mean(dim=(2, 3)))
        return logits

    def exportable(self) -> CamExport:
        """This network (shared weights) with a forward returning ``(logits, cams)``."""
        return CamExport(self)


class CamExport(nn.Module):
    """Forward pass that returns logits and the class activation maps, for ONNX export."""

    def __init__(self, classifier: CamClassifier) -> None:
        """Wrap ``classifier``; its parameters are shared, not copied."""
        super().__init__()
        self.classifier = classifier

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits ``(N, K)`` and CAMs ``(N, K, H, W)`` at the input's resolution.

        ``cams[:, k] = ReLU(sum_c w_kc * A_c)`` (bias excluded), bilinearly upsampled;
        equal to Grad-CAM of logit ``k`` times ``h * w`` (see the module docstring).
        Unnormalised, so their scale is comparable between images and labels.
        """
        maps = self.classifier.feature_maps(image)
        head = self.classifier.classifier
        logits: torch.Tensor = head(maps.mean(dim=(2, 3)))
        # A 1x1 convolution with the linear weights is sum_c w_kc * A_c at every pixel.
        cams = F.relu(F.conv2d(maps, head.weight[:, :, None, None]))
        cams = F.interpolate(cams, size=image.shape[-2:], mode="bilinear", align_corners=False)
        return logits, cams


def check_network_fits(
    network: nn.Module, in_channels: int, num_labels: int, image_size: int
) -> None:
    """Refuse a network that is no ``CamClassifier`` or does not fit the data, before training.

    The declared ``in_channels`` and ``num_labels`` and one forward pass of a blank
    ``image_size`` image are checked (``medai.engine.network_fit``), so a project network
    that declares one head and computes another is caught too.

    Args:
        network: The network about to train (the kind's or a project's own).
        in_channels: The channels of the prepared images (1: a radiograph).
        num_labels: The dataset's labels (one logit each).
        image_size: ``preprocessing.image_size``, the side of the example input.

    Raises:
        NetworkContractError: naming the expected and the network's numbers, or the
            network's type when it is no ``CamClassifier`` (the kind's CAMs and ONNX
            export need its pooled head).
    """
    if not isinstance(network, CamClassifier):
        message = (
            f"the project's network is a {type(network).__name__}; expected a CamClassifier "
            "(medai.classification.networks): the kind's CAMs and ONNX export need its head"
        )
        raise NetworkContractError(message)
    example = torch.zeros(1, network.in_channels, image_size, image_size)
    check_fits(
        network,
        (network.in_channels, network.num_labels),
        example,
        NetworkFit(in_channels, num_labels, "labels", head="output"),
    )
