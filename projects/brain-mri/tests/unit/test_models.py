"""brain-mri's configured UNet: one MRI channel in, a logit per label out."""

from __future__ import annotations

import torch

from brain_mri.data.dataset import LABELS
from brain_mri.models.brain_mri import build_network
from brain_mri.settings import BINDING


def test_the_development_unet_gives_a_logit_per_label_on_a_training_patch():
    settings = BINDING.load(environ={})
    network = build_network(settings.model, num_classes=len(LABELS)).eval()
    patch = torch.rand(2, 1, *settings.preprocessing.patch_size)
    with torch.no_grad():
        logits = network(patch)
    assert logits.shape == (2, len(LABELS), *settings.preprocessing.patch_size)
    assert network.input_shape() == (-1, 1, -1, -1, -1)


def test_the_production_unet_is_deeper_and_still_fits_its_patches():
    development = BINDING.load(environ={}).model
    production = BINDING.load(environ={"MEDAI_ENV": "production"})
    assert len(production.model.channels) > len(development.channels)
    divisor = production.model.size_divisor
    assert [size % divisor for size in production.preprocessing.patch_size] == [0, 0, 0]
