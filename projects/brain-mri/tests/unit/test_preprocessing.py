"""brain-mri's sample data is an MSD dataset; its window maps it to [0, 1]."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import torch
from monai.data import MetaTensor

from brain_mri.settings import BINDING, PROJECT
from brain_mri.utils.preprocessing import inference_transforms


def test_generated_spheres_are_an_msd_dataset_with_a_recorded_split(tmp_path):
    small = ["data.synthetic.n_cases=4", "data.synthetic.edge=24", "data.synthetic.radius=[3, 7]"]
    data = PROJECT.load_data(BINDING.load([f"data.root={tmp_path}", *small], environ={}))

    assert data.labels == {0: "background", 1: "sphere"}
    assert data.dataset.modality == "MRI"
    assert sorted(c.case_id for c in data.dataset.cases) == [f"sphere_{i:03d}" for i in range(4)]
    assert (tmp_path / "processed" / data.dataset.root.name / "split.json").is_file()
    case = data.dataset.cases[0]
    image, label = nib.load(case.image), nib.load(case.label)
    assert image.shape == label.shape == (24, 24, 24)
    np.testing.assert_allclose(np.diag(image.affine)[:3], [1.5, 1.5, 1.5])
    assert set(np.unique(np.asarray(label.dataobj))) == {0, 1}


def test_the_window_clips_intensities_into_zero_one_on_the_configured_grid():
    prep = BINDING.load(environ={}).preprocessing
    raw = torch.linspace(-0.5, 1.5, 27).reshape(1, 3, 3, 3)
    grid = torch.diag(torch.tensor([*prep.target_spacing, 1.0]))
    windowed = inference_transforms(prep)({"image": MetaTensor(raw, affine=grid)})["image"]
    width = prep.intensity_max - prep.intensity_min
    expected = ((raw - prep.intensity_min) / width).clamp(0.0, 1.0)
    torch.testing.assert_close(windowed.as_tensor(), expected)
