"""Loading and normalisation: real NIfTI files in, named errors for bad pairs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor

from medai.io import MedicalImageError, write_nifti
from medai.segmentation.settings import PreprocessingSettings
from medai.segmentation.transforms import IMAGE, LABEL, LoadCased, inference_transforms

AFFINE = np.diag([2.0, 2.0, 2.0, 1.0])


def write_pair(tmp_path, label_values=(0, 1), label_shape=(8, 8, 8), label_affine=AFFINE):
    image = write_nifti(tmp_path / "img.nii.gz", np.full((8, 8, 8), 40, np.int16), AFFINE)
    label = np.zeros(label_shape, np.uint8)
    label.flat[: len(label_values)] = label_values
    return image, write_nifti(tmp_path / "lbl.nii.gz", label, label_affine)


def test_load_case_gives_metatensors_with_the_file_affine(tmp_path):
    image, label = write_pair(tmp_path)
    out = LoadCased([0, 1])({IMAGE: str(image), LABEL: str(label)})
    assert out[IMAGE].shape == (1, 8, 8, 8)
    torch.testing.assert_close(out[LABEL].affine, torch.from_numpy(AFFINE))


def test_label_with_undeclared_value_is_refused_naming_the_file(tmp_path):
    image, label = write_pair(tmp_path, label_values=(0, 1, 7))
    with pytest.raises(
        MedicalImageError, match=r"lbl\.nii\.gz: label values \[7\] are not declared"
    ):
        LoadCased([0, 1])({IMAGE: str(image), LABEL: str(label)})


def test_label_on_another_grid_is_refused(tmp_path):
    image, label = write_pair(tmp_path, label_shape=(8, 8, 6))
    with pytest.raises(
        MedicalImageError, match=r"label shape \(8, 8, 6\) differs from image shape"
    ):
        LoadCased([0, 1])({IMAGE: str(image), LABEL: str(label)})
    image, label = write_pair(tmp_path, label_affine=np.diag([2.0, 2.0, 3.0, 1.0]))
    with pytest.raises(MedicalImageError, match="label affine differs"):
        LoadCased([0, 1])({IMAGE: str(image), LABEL: str(label)})


def test_inference_transforms_resample_and_window_intensities():
    hu = torch.linspace(-1000, 1000, 8 * 8 * 8).reshape(1, 8, 8, 8)
    image = MetaTensor(hu, affine=torch.from_numpy(np.diag([3.0, 3.0, 3.0, 1.0])))
    prep = PreprocessingSettings(
        target_spacing=(1.5, 1.5, 1.5), intensity_min=-200, intensity_max=300
    )
    out = inference_transforms(prep)({IMAGE: image})[IMAGE]
    assert tuple(out.shape[1:]) == (
        15,
        15,
        15,
    )  # 8 voxels of 3 mm span 21 mm -> 15 voxels of 1.5 mm
    assert float(out.min()) == 0.0
    assert float(out.max()) == 1.0
    np.testing.assert_allclose(np.abs(np.diag(out.affine.numpy())[:3]), [1.5, 1.5, 1.5])
