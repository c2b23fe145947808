"""ct-seg's configured networks fit its patches and predict background, organ and lesion."""

from __future__ import annotations

import pytest
import torch

from ct_seg.models.ct_seg import build_network
from ct_seg.settings import BINDING


@pytest.mark.parametrize("environment", ["development", "production"])
def test_the_configured_unet_takes_one_ct_channel_and_gives_three_classes(environment, tmp_path):
    overrides = [f"data.dataset_dir={tmp_path}"]  # production insists on a dataset folder
    settings = BINDING.load(overrides, environ={"MEDAI_ENV": environment})
    network = build_network(settings.model, num_classes=3)

    assert network.input_shape() == (-1, 1, -1, -1, -1)
    assert network.output_shape() == (-1, 3, -1, -1, -1)
    assert all(size % network.size_divisor == 0 for size in settings.preprocessing.patch_size)
    small = network.example_input()
    with torch.no_grad():
        assert network.eval()(small).shape == (1, 3, *small.shape[2:])
