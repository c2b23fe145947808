"""The kit's UNet keeps the segmentation network contract."""

from __future__ import annotations

import pytest
import torch
from monai.networks.nets import UNet

from medai.errors import NetworkContractError
from medai.segmentation.networks import (
    UNetSegmentationNetwork,
    build_network,
    check_network_fits,
)
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


SMALL = ModelSettings(channels=(4, 8), strides=(2,), num_res_units=0)


def test_the_unet_takes_as_many_channels_as_the_dataset_has():
    network = build_network(SMALL, num_classes=4, in_channels=4)

    logits = network(torch.zeros(1, 4, 8, 8, 8))

    assert network.in_channels == 4
    assert logits.shape == (1, 4, 8, 8, 8)
    check_network_fits(network, in_channels=4, out_channels=4)


def test_a_network_that_does_not_fit_the_data_is_refused_naming_both_numbers():
    network = build_network(SMALL, num_classes=3, in_channels=1)

    too_few = r"has 3 output channel.s. but the dataset has 4 labels"
    with pytest.raises(NetworkContractError, match=too_few):
        check_network_fits(network, in_channels=1, out_channels=4)
    with pytest.raises(NetworkContractError, match=r"takes 1 input channel.s. but .* have 4"):
        check_network_fits(network, in_channels=4, out_channels=3)


def test_a_network_that_declares_one_head_and_computes_another_is_caught():
    network = build_network(SMALL, num_classes=3)
    network.num_classes = 4  # the declaration lies; the weights still give 3 channels

    with pytest.raises(NetworkContractError, match="declares 4 output channels but computes 3"):
        check_network_fits(network, in_channels=1, out_channels=4)


class Flat(UNetSegmentationNetwork):
    """A project network built 2D: the contract's type allows it, the volume data do not."""

    def __init__(self) -> None:
        super().__init__(SMALL, num_classes=2)
        self.spatial_dims = 2
        self.unet = UNet(2, 1, 2, channels=(4, 8), strides=(2,), num_res_units=0)


def test_a_2d_network_serves_2d_shapes_and_is_refused_for_volumes_naming_both():
    network = Flat()
    assert network.input_shape() == (-1, 1, -1, -1)
    assert network(network.example_input()).shape == (1, 2, 4, 4)
    check_network_fits(network, in_channels=1, out_channels=2, spatial_dims=2)
    with pytest.raises(
        NetworkContractError, match="Flat is a 2D network but the dataset's images are 3D"
    ):
        check_network_fits(network, in_channels=1, out_channels=2)
