"""brain-mri's SegResNet: four MRI channels in, one logit per nested region out."""

from __future__ import annotations

import pytest
import torch
from monai.networks.blocks import Convolution
from monai.networks.layers import SkipConnection
from monai.networks.nets import SegResNet

from brain_mri.models.brain_mri import SegResNetSegmentationNetwork, build_network
from brain_mri.settings import BINDING, PROJECT
from medai.export.onnx import check_onnx_matches, export_onnx
from medai.segmentation.networks import check_network_fits
from medai.segmentation.registry import ONNX_GRAPH, onnx_plan

CHANNELS, REGIONS = 4, 3


def test_the_development_segresnet_gives_a_logit_per_region_on_a_training_patch():
    settings = BINDING.load(environ={})
    network = build_network(settings, CHANNELS, REGIONS).eval()
    patch = torch.rand(2, CHANNELS, *settings.preprocessing.patch_size)

    with torch.no_grad():
        logits = network(patch)

    assert isinstance(network, SegResNetSegmentationNetwork)
    assert any(isinstance(layer, SegResNet) for layer in network.exportable().modules())
    assert logits.shape == (2, REGIONS, *settings.preprocessing.patch_size)
    assert network.input_shape() == (-1, CHANNELS, -1, -1, -1)
    check_network_fits(network, CHANNELS, REGIONS)


def test_the_strided_development_network_ends_at_full_resolution_on_image_and_features():
    # Half-resolution logits alone lose the few-voxel enhancing rim: the last convolution
    # must see the image itself beside SegResNet's upsampled features.
    settings = BINDING.load(environ={})
    width = settings.model.channels[0]

    skip, head = build_network(settings, CHANNELS, REGIONS).exportable().children()

    assert settings.model.stem_stride == 2  # the development config
    assert isinstance(skip, SkipConnection)
    assert skip.mode == "cat"
    assert isinstance(head, Convolution)
    assert head.conv.in_channels == CHANNELS + width
    assert head.conv.out_channels == REGIONS
    assert head.conv.stride == (1, 1, 1)


def test_the_logged_module_is_torch_and_monai_only():
    settings = BINDING.load(environ={})

    exportable = build_network(settings, CHANNELS, REGIONS).exportable()

    foreign = {
        type(layer).__module__
        for layer in exportable.modules()
        if not type(layer).__module__.startswith(("torch.", "monai."))
    }
    assert foreign == set()


@pytest.mark.parametrize("environment", ["development", "production"])
def test_the_network_exports_to_onnx_that_matches_torch(environment, tmp_path):
    settings = BINDING.load(environ={"MEDAI_ENV": environment})
    if environment == "production":  # the paper's widths, made small: export is the point
        settings = BINDING.load(
            overrides=["model.channels=[4,8,16,32]"], environ={"MEDAI_ENV": environment}
        )
    network = build_network(settings, CHANNELS, REGIONS).eval()
    plan = onnx_plan(network)

    path = export_onnx(network.exportable(), tmp_path / "model.onnx", plan.examples[0], plan.spec)

    assert plan.spec == ONNX_GRAPH
    assert check_onnx_matches(network.exportable(), path, plan.examples) < 1e-3


def test_the_project_hands_its_network_to_the_kind():
    settings = BINDING.load(environ={})

    network = PROJECT.build_network(settings, CHANNELS, REGIONS)

    assert isinstance(network, SegResNetSegmentationNetwork)
    assert network.size_divisor == settings.model.size_divisor == 8  # stem 2 x 2 x 2


def test_the_production_segresnet_is_deeper_and_still_fits_its_patches():
    development = BINDING.load(environ={}).model
    production = BINDING.load(environ={"MEDAI_ENV": "production"})

    assert len(production.model.channels) > len(development.channels)
    assert production.model.stem_stride == 1  # SegResNet as published, no stem or skip
    divisor = production.model.size_divisor
    assert [size % divisor for size in production.preprocessing.patch_size] == [0, 0, 0]
    network = build_network(production, CHANNELS, REGIONS).eval()
    assert isinstance(network.exportable(), SegResNet)
    with torch.no_grad():
        assert network(torch.zeros(1, CHANNELS, *(2 * divisor,) * 3)).shape[1] == REGIONS
