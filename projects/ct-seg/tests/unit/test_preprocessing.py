"""ct-seg feeds its network the abdominal soft-tissue window (-200..300 HU) at 1.5 mm."""

from __future__ import annotations

import numpy as np
import torch
from monai.data import MetaTensor

from ct_seg.settings import BINDING
from ct_seg.utils.preprocessing import inference_transforms


def test_the_configured_window_maps_abdominal_hu_to_zero_one():
    prep = BINDING.load(environ={}).preprocessing
    assert (prep.intensity_min, prep.intensity_max) == (-200.0, 300.0)
    assert prep.target_spacing == (1.5, 1.5, 1.5)

    hu = torch.tensor([-1000.0, -200.0, 50.0, 300.0, 1500.0, 60.0, 60.0, 60.0])
    image = MetaTensor(
        hu.reshape(1, 2, 2, 2), affine=torch.diag(torch.tensor([1.5, 1.5, 1.5, 1.0]))
    )
    out = inference_transforms(prep)({"image": image})["image"]

    np.testing.assert_allclose(out.numpy().ravel()[:5], [0.0, 0.0, 0.5, 1.0, 1.0], atol=1e-6)
