"""cxr-cls inputs: the same radiograph as DICOM or PNG gives the same network input."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from cxr_cls.testing import dicom_files
from cxr_cls.utils.preprocessing import prepare_image, to_model_input
from medai.io import read_radiograph


def as_png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.rint(pixels * 255).astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_dicom_and_its_png_export_give_the_same_input(tiny_dataset):
    dicom = next(item for item in tiny_dataset.items if item.path.suffix == ".dcm")
    from_dicom = read_radiograph(dicom.path)
    from_png = read_radiograph(as_png(from_dicom.pixels))

    a = to_model_input(from_dicom.pixels, 32)
    b = to_model_input(from_png.pixels, 32)

    assert a.shape == b.shape == (1, 1, 32, 32)
    assert a.dtype == np.float32
    np.testing.assert_allclose(a, b, atol=1 / 255)


def test_monochrome1_and_monochrome2_files_are_both_bright_side_up(tiny_dataset):
    inverted = dicom_files(tiny_dataset.root, "MONOCHROME1")
    plain = dicom_files(tiny_dataset.root, "MONOCHROME2")
    assert inverted
    assert plain
    for path in (inverted[0], plain[0]):
        pixels = read_radiograph(path).pixels
        # Air outside the body is dark and the mediastinum bright in display convention.
        assert pixels[:, :3].mean() < 0.2
        assert pixels[pixels.shape[0] // 2, pixels.shape[1] // 2] > 0.4


def test_standardised_inputs_have_zero_mean_and_unit_spread(tiny_dataset):
    pixels = read_radiograph(tiny_dataset.items[0].path).pixels
    prepared = prepare_image(pixels, 64, standardize=True)
    assert abs(float(prepared.mean())) < 1e-5
    assert abs(float(prepared.std()) - 1.0) < 1e-4
