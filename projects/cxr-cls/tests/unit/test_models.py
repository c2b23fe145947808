"""The cxr-cls network as configured: four logits, and CAMs that are its Grad-CAM."""

from __future__ import annotations

import pytest
import torch

from cxr_cls.models.base import CamClassifier
from cxr_cls.models.cxr_cls import build_network
from cxr_cls.settings import BINDING


@pytest.fixture(autouse=True)
def _one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def test_the_development_network_gives_a_logit_per_finding():
    settings = BINDING.load(environ={})
    torch.manual_seed(0)
    network = build_network(settings.model, len(settings.data.labels)).eval()
    size = settings.preprocessing.image_size

    with torch.no_grad():
        logits = network(torch.rand(3, 1, size, size))
        maps = network.feature_maps(torch.rand(1, 1, size, size))

    assert isinstance(network, CamClassifier)
    assert logits.shape == (3, 4)
    assert maps.shape[-2:] == (size // settings.model.downsampling,) * 2
    assert sum(p.numel() for p in network.parameters()) < 200_000  # trains on a laptop CPU


def test_the_exported_forward_gives_cams_at_the_input_size_matching_the_logits():
    settings = BINDING.load(environ={})
    torch.manual_seed(1)
    network = build_network(settings.model, 4).eval()
    image = torch.rand(2, 1, 64, 64)

    with torch.no_grad():
        logits, cams = network.exportable()(image)
        reference = network(image)

    torch.testing.assert_close(logits, reference)
    assert cams.shape == (2, 4, 64, 64)
    assert float(cams.min()) >= 0.0


def test_the_production_network_is_deeper_and_takes_larger_images():
    settings = BINDING.load(environ={"MEDAI_ENV": "production"})
    network = build_network(settings.model, 4).eval()
    size = settings.preprocessing.image_size
    with torch.no_grad():
        maps = network.feature_maps(torch.rand(1, 1, size, size))
    assert maps.shape[-2:] == (10, 10)  # 320 / 32
