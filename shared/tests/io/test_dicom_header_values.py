"""A DICOM series' geometry and rescale values are checked before any pixel is decoded."""

import math
import tempfile
from pathlib import Path

import numpy as np
import pydicom
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset

from medai.hostile import put_raw
from medai.io import (
    InvalidGeometryError,
    InvalidHeaderValueError,
    MedicalImageError,
    read_dicom_series,
)

CT_SMALL = Path(get_testdata_file("CT_small.dcm"))
SECRETS = ("Doe^Jane", "SECRET-ID-123")
EDGE = 8
SPACING_RULE = "positive finite numbers (mm) between 0.0001 and 1e+32"
SLOPE_RULE = "expected a finite non-zero number with 1e-09 <= |value| <= 1e+06"


def small_slice(z: float, **raw: str) -> Dataset:
    """An 8x8 axial CT slice at height z (HU = 1000 z + column), with raw header values."""
    dataset = pydicom.dcmread(CT_SMALL)
    dataset.PatientName, dataset.PatientID = SECRETS
    dataset.SeriesInstanceUID = "1.2.826.0.1.3680043.8.498.42"
    dataset.Rows = dataset.Columns = EDGE
    stored = 1024 + 1000 * z + np.tile(np.arange(EDGE), (EDGE, 1))
    dataset.PixelData = stored.astype(np.int16).tobytes()
    put_raw(dataset, "ImagePositionPatient", f"0\\0\\{z:g}")
    put_raw(dataset, "ImageOrientationPatient", "1\\0\\0\\0\\1\\0")
    put_raw(dataset, "PixelSpacing", "0.5\\0.5")
    for keyword, text in raw.items():
        put_raw(dataset, keyword, text)
    return dataset


def write(folder: Path, *slices: Dataset) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for index, dataset in enumerate(slices):
        dataset.save_as(folder / f"s{index}.dcm")
    return folder


def refusal(kind, folder: Path) -> str:
    with pytest.raises(kind) as caught:
        read_dicom_series(folder)
    text = str(caught.value)
    assert "\n" not in text
    assert not any(secret in text for secret in SECRETS)
    assert text.startswith(f"{folder}: ")
    return caught.value.reason


def test_small_series_reads_in_hounsfield_units(tmp_path):
    volume = read_dicom_series(write(tmp_path, small_slice(0), small_slice(2)))
    assert volume.spacing == pytest.approx((0.5, 0.5, 2.0))
    np.testing.assert_array_equal(volume.array[:, 0, 1], np.arange(EDGE) + 2000)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("0\\0.5", "[0, 0.5]"),
        ("-0.5\\0.5", "[-0.5, 0.5]"),
        ("nan\\0.5", "[nan, 0.5]"),
        ("1e308\\0.5", "[1e+308, 0.5]"),
        ("abc\\0.5", "['abc', 0.5]"),
        ("0.5", "0.5"),
        ("", "empty"),
    ],
)
def test_unusable_pixel_spacing_is_refused_naming_file_attribute_and_value(tmp_path, text, shown):
    folder = write(tmp_path, small_slice(0, PixelSpacing=text), small_slice(2))
    reason = refusal(InvalidGeometryError, folder)
    assert reason == f"file s0.dcm: PixelSpacing is {shown}; expected two {SPACING_RULE}"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("0\\0\\0\\0\\0\\0", "the row vector has length 0"),
        ("2\\0\\0\\0\\2\\0", "the row vector has length 2"),
        (
            "1\\0\\0\\0.7071\\0.7071\\0",
            "they are not orthogonal (the cosine of their angle is 0.707)",
        ),
        ("1\\0\\0\\1\\0\\0", "they are not orthogonal (the cosine of their angle is 1)"),
    ],
)
def test_orientation_that_is_not_a_rotation_is_refused(tmp_path, text, problem):
    folder = write(tmp_path, small_slice(0, ImageOrientationPatient=text), small_slice(2))
    reason = refusal(InvalidGeometryError, folder)
    assert reason.startswith("file s0.dcm: ImageOrientationPatient is [")
    assert reason.endswith(f", but {problem}")


def test_absurd_image_position_is_refused(tmp_path):
    folder = write(tmp_path, small_slice(0, ImagePositionPatient="0\\1e308\\0"), small_slice(2))
    reason = refusal(InvalidGeometryError, folder)
    assert reason == (
        "file s0.dcm: ImagePositionPatient is [0, 1e+308, 0]; "
        "expected three finite numbers (mm) between -1e+32 and 1e+32"
    )


@pytest.mark.parametrize("text", ["0", "-2", "nan", "abc"])
def test_a_single_slice_with_unusable_slice_thickness_is_refused(tmp_path, text):
    reason = refusal(InvalidGeometryError, write(tmp_path, small_slice(0, SliceThickness=text)))
    assert reason.startswith("file s0.dcm: SliceThickness is ")
    assert reason.endswith(f"; expected one {SPACING_RULE.replace('numbers', 'number')}")


def test_an_empty_slice_thickness_means_unknown_and_falls_back_to_1mm(tmp_path):
    volume = read_dicom_series(write(tmp_path, small_slice(0, SliceThickness="")))
    assert volume.spacing[2] == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("keyword", "text", "shown"),
    [
        ("RescaleSlope", "nan", "nan"),  # this gave a NaN volume, and an empty mask, before
        ("RescaleSlope", "inf", "inf"),
        ("RescaleSlope", "0", "0"),
        ("RescaleSlope", "1e308", "1e+308"),
        ("RescaleSlope", "abc", "'abc'"),
        ("RescaleSlope", "", "empty"),
        ("RescaleSlope", "1\\2", "[1, 2]"),
    ],
)
def test_unusable_rescale_slope_is_refused(tmp_path, keyword, text, shown):
    folder = write(tmp_path, small_slice(0), small_slice(2, **{keyword: text}))
    reason = refusal(InvalidHeaderValueError, folder)
    assert reason == f"file s1.dcm: {keyword} is {shown}; {SLOPE_RULE}"


@pytest.mark.parametrize("text", ["nan", "-1e308", "x"])
def test_unusable_rescale_intercept_is_refused(tmp_path, text):
    folder = write(tmp_path, small_slice(0, RescaleIntercept=text), small_slice(2))
    reason = refusal(InvalidHeaderValueError, folder)
    assert reason.startswith("file s0.dcm: RescaleIntercept is ")
    assert reason.endswith("; expected a finite number with |value| <= 1e+06")


def test_a_rescale_slope_without_intercept_is_refused(tmp_path):
    lone = small_slice(0)
    del lone.RescaleIntercept
    reason = refusal(InvalidHeaderValueError, write(tmp_path, lone))
    assert reason == (
        "file s0.dcm: RescaleSlope is given without RescaleIntercept; expected both or neither"
    )


def test_a_modality_lut_that_disagrees_with_its_data_is_refused(tmp_path):
    dataset = small_slice(0)
    item = Dataset()
    item.add_new("LUTDescriptor", "US", [4096, 0, 16])
    item.add_new("LUTData", "US", [0, 1])
    dataset.ModalityLUTSequence = [item]
    reason = refusal(InvalidHeaderValueError, write(tmp_path, dataset))
    assert reason == (
        "file s0.dcm: ModalityLUTSequence[0].LUTData has 2 entries; its LUTDescriptor says 4096"
    )


def test_slices_whose_step_lies_almost_in_their_plane_are_refused(tmp_path):
    """0.01 mm apart along the normal, 100 mm apart in-plane: the third axis is nearly flat."""
    first = small_slice(0)
    second = small_slice(0, ImagePositionPatient="100\\0\\0.01")
    reason = refusal(InvalidGeometryError, write(tmp_path, first, second))
    assert reason == (
        "the affine built from ImageOrientationPatient, PixelSpacing and the positions has "
        "(nearly) collinear voxel axes (determinant of the unit axes 0.0001; "
        "expected at least 0.01)"
    )


def test_a_number_of_frames_that_is_not_a_number_is_refused_not_a_crash(tmp_path):
    """pydicom warns on 'abc' as IS: with warnings as errors the value cannot be parsed."""
    reason = refusal(InvalidHeaderValueError, write(tmp_path, small_slice(0, NumberOfFrames="abc")))
    assert reason in {
        "file s0.dcm: NumberOfFrames is 'abc'; expected one integer",
        "file s0.dcm: NumberOfFrames cannot be parsed",
    }


def test_float_pixel_data_holding_nan_is_refused(tmp_path):
    dataset = small_slice(0)
    del dataset.PixelData
    dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit = 32, 32, 31
    values = np.zeros((EDGE, EDGE), np.float32)
    values[1, 1] = np.nan
    dataset.FloatPixelData = values.tobytes()
    reason = refusal(MedicalImageError, write(tmp_path, dataset))
    assert reason == (
        "file s0.dcm: pixel values after the Modality LUT are not finite in float32 "
        "(NaN, Inf or beyond 3.4e+38)"
    )


# --- Property: whatever the headers say, a usable volume or a MedicalImageError ---------------

NUMBER_TEXT = st.one_of(
    st.floats(-1e3, 1e3).map(lambda value: f"{value:.6g}"),
    st.sampled_from(["0", "-0", "1", "0.5", "nan", "inf", "-inf", "1e308", "1e-308", "1e-40"]),
    st.sampled_from(["", "abc", " ", "1_0", "0x10", "1e", "--1"]),
)
ROTATIONS = st.sampled_from(
    [
        (1, 0, 0, 0, 1, 0),
        (0.6, 0.8, 0, 0, 0, -1),
        (1, 0, 0, 0, 0.7071, 0.7071),
        (1, 0, 0, 0, 0, -1),
    ]
)


SIZE_TEXT = st.floats(0.05, 5.0).map(lambda value: f"{value:.4g}")


@st.composite
def series_headers(draw):
    """A valid small series, then up to three of its values (or vector entries) made hostile."""
    header = {
        "slices": draw(st.integers(1, 3)),
        "step": draw(st.one_of(st.floats(0.5, 5.0), st.floats(-5.0, -0.5))),
        "shift": draw(st.one_of(st.just(0.0), st.floats(-2.0, 2.0))),
        "PixelSpacing": [draw(SIZE_TEXT), draw(SIZE_TEXT)],
        "SliceThickness": [draw(SIZE_TEXT)],
        "ImageOrientationPatient": [f"{value:g}" for value in draw(ROTATIONS)],
        "RescaleSlope": [draw(st.sampled_from(["1", "0.5", "2.5", "-1"]))],
        "RescaleIntercept": [draw(st.sampled_from(["-1024", "0", "10.5"]))],
    }
    texts = ("PixelSpacing", "SliceThickness", "ImageOrientationPatient", "RescaleSlope")
    for _ in range(draw(st.integers(0, 3))):
        name = draw(st.sampled_from((*texts, "RescaleIntercept", "step")))
        if name == "step":
            header[name] = draw(st.sampled_from([0.0, 1e-4, 1e30, -1e-3]))
        else:
            values = header[name]
            values[draw(st.integers(0, len(values) - 1))] = draw(NUMBER_TEXT)
    for name in (*texts, "RescaleIntercept"):
        header[name] = "\\".join(header[name])
    return header


@settings(max_examples=150, deadline=None)
@given(header=series_headers())
def test_read_dicom_series_gives_a_usable_volume_or_a_medical_image_error(header):
    header = dict(header)
    slices, step, shift = header.pop("slices"), header.pop("step"), header.pop("shift")
    datasets = []
    for index in range(slices):
        position = f"{shift * index:.6g}\\0\\{step * index:.6g}"
        datasets.append(small_slice(0, ImagePositionPatient=position, **header))
    with tempfile.TemporaryDirectory() as scratch:
        folder = write(Path(scratch) / "series", *datasets)
        try:
            volume = read_dicom_series(folder)
        except MedicalImageError as error:
            volume, message = None, str(error)
    if volume is None:
        assert "\n" not in message
        assert not any(secret in message for secret in SECRETS)
        return
    assert np.isfinite(volume.affine).all()
    assert np.linalg.det(volume.affine) != 0
    assert np.isfinite(np.linalg.inv(volume.affine)).all()
    assert all(size > 0 and math.isfinite(size) for size in volume.spacing)
    assert volume.array.dtype == np.float32
    assert np.isfinite(volume.array).all()
