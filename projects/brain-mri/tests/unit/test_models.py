"""brain-mri's SegResNet: four MRI channels in, one logit per nested region out."""

from __future__ import annotations

import torch
from monai.networks.nets import SegResNet

from brain_mri.models.brain_mri import SegResNetSegmentationNetwork, build_network
from brain_mri.settings import BINDING, PROJECT
from medai.segmentation.networks import check_network_fits

CHANNELS, REGIONS = 4, 3


def test_the_development_segresnet_gives_a_logit_per_region_on_a_training_patch():
    settings = BINDING.load(environ={})
    network = build_network(settings, CHANNELS, REGIONS).eval()
    patch = torch.rand(2, CHANNELS, *settings.preprocessing.patch_size)

    with torch.no_grad():
        logits = network(patch)

    assert isinstance(network, SegResNetSegmentationNetwork)
    assert any(isinstance(layer, SegResNet) for layer in network.exportable())
    assert logits.shape == (2, REGIONS, *settings.preprocessing.patch_size)
    assert network.input_shape() == (-1, CHANNELS, -1, -1, -1)
    check_network_fits(network, CHANNELS, REGIONS)


def test_the_project_hands_its_network_to_the_kind():
    settings = BINDING.load(environ={})

    network = PROJECT.build_network(settings, CHANNELS, REGIONS)

    assert isinstance(network, SegResNetSegmentationNetwork)
    assert network.size_divisor == settings.model.size_divisor == 8  # stem 2 x 2 x 2


def test_the_production_segresnet_is_deeper_and_still_fits_its_patches():
    development = BINDING.load(environ={}).model
    production = BINDING.load(environ={"MEDAI_ENV": "production"})

    assert len(production.model.channels) > len(development.channels)
    divisor = production.model.size_divisor
    assert [size % divisor for size in production.preprocessing.patch_size] == [0, 0, 0]
    network = build_network(production, CHANNELS, REGIONS).eval()
    with torch.no_grad():
        assert network(torch.zeros(1, CHANNELS, *(2 * divisor,) * 3)).shape[1] == REGIONS
