"""The kit's UNet keeps the segmentation network contract."""

from __future__ import annotations

import torch
from monai.networks.nets import UNet

from medai.segmentation.networks import UNetSegmentationNetwork, build_network
from medai.segmentation.settings import ModelSettings


def test_unet_maps_one_channel_volume_to_logits_per_class():
    network = build_network(
        ModelSettings(channels=(4, 8, 16), strides=(2, 2), num_res_units=1), num_classes=3
    )
    logits = network(torch.zeros(2, 1, 16, 24, 32))
    assert logits.shape == (2, 3, 16, 24, 32)
    assert network.input_shape() == (-1, 1, -1, -1, -1)
    assert network.output_shape() == (-1, 3, -1, -1, -1)
    assert network.size_divisor == 4


def test_exported_module_is_the_bare_monai_unet_with_the_same_weights():
    network = UNetSegmentationNetwork(
        ModelSettings(channels=(4, 8), strides=(2,), num_res_units=0), num_classes=2
    )
    exported = network.exportable()
    assert type(exported) is UNet
    example = network.example_input()
    assert example.shape == (1, 1, 4, 4, 4)
    network.eval()
    torch.testing.assert_close(exported(example), network(example))
