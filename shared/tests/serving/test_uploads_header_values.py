"""Uploads with degenerate geometry or non-finite header values are 422s naming the value.

The NIfTI header is checked from the upload's own bytes, before nibabel parses it: nibabel
repairs a zero or negative pixdim quietly, so checking the image it builds would miss them.
"""

import io
import math
import zipfile

import numpy as np
import pydicom
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom.data import get_testdata_file

from medai.hostile import put_raw, raw_nifti
from medai.serving.uploads import UploadError, UploadLimits, UploadPart, read_volume_upload

LIMITS = UploadLimits(max_bytes=8 << 20, max_voxels=1 << 20)
SPACING_RULE = "positive finite numbers (mm) between 0.0001 and 1e+32"


def nifti_bytes(*, gz: bool = True, **fields) -> bytes:
    return raw_nifti(compress=gz, **fields)


def dicom_slice(z: float, **raw: str) -> bytes:
    dataset = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    dataset.SeriesInstanceUID = "1.2.826.0.1.3680043.8.498.44"
    dataset.Rows = dataset.Columns = 8
    dataset.PixelData = np.full((8, 8), 1024, np.int16).tobytes()
    dataset.ImagePositionPatient = [0, 0, z]
    dataset.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    for keyword, text in raw.items():
        put_raw(dataset, keyword, text)
    buffer = io.BytesIO()
    dataset.save_as(buffer)
    return buffer.getvalue()


def refusal(*datas: bytes) -> str:
    with pytest.raises(UploadError) as caught:
        read_volume_upload(
            [UploadPart(f"Doe^Jane_{i}.dcm", d) for i, d in enumerate(datas)], LIMITS
        )
    error = caught.value
    assert (error.status, error.code) == (422, "unreadable_image")
    assert "Doe" not in error.message
    assert "\n" not in error.message
    return error.message


@pytest.mark.parametrize("gz", [True, False], ids=["nii.gz", "nii"])
@pytest.mark.parametrize(
    ("pixdim", "shown"),
    [([1, 0, 1.5, 1.5], "[0, 1.5, 1.5]"), ([1, -1.5, 1.5, 1.5], "[-1.5, 1.5, 1.5]")],
)
def test_a_pixdim_nibabel_would_repair_is_refused_from_the_raw_header(gz, pixdim, shown):
    data = nifti_bytes(gz=gz, sform_code=0, pixdim=[*pixdim, 1, 1, 1, 1])
    assert refusal(data) == f"part 1: pixdim[1:4] is {shown}; expected three {SPACING_RULE}"


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"srow_y": [0, np.inf, 0, 0]}, "sform holds Inf"),
        ({"qoffset_z": np.nan}, "qform holds NaN"),
        ({"srow_z": [0, 0, 0, 0]}, "sform is singular (determinant 0)"),
        ({"qform_code": 42}, "qform_code is 42; expected one of 0, 1, 2, 3, 4, 5"),
        (
            {"scl_slope": -np.inf},
            "scl_slope is -inf; expected a finite number (0 or NaN: no scaling)",
        ),
    ],
)
def test_degenerate_nifti_geometry_or_scaling_is_refused(fields, reason):
    assert refusal(nifti_bytes(**fields)) == f"part 1: {reason}"


def test_dicom_parts_are_named_by_position_in_the_refusal():
    message = refusal(dicom_slice(0), dicom_slice(2, SliceThickness="1", PixelSpacing="-1\\1"))
    assert message == (
        f"DICOM upload: part 2: PixelSpacing is [-1, 1]; expected two {SPACING_RULE}"
    )


def test_zip_entries_are_named_by_number_in_the_refusal():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("Doe^Jane/1.dcm", dicom_slice(0))
        archive.writestr("Doe^Jane/2.dcm", dicom_slice(2, RescaleIntercept="inf"))
    message = refusal(buffer.getvalue())
    assert message == (
        "DICOM upload: entry 2: RescaleIntercept is inf; expected a finite number with "
        "|value| <= 1e+06"
    )


def test_a_nan_rescale_slope_no_longer_reads_as_a_nan_volume():
    """Before, this was a 200 with an empty mask: the model saw NaN everywhere."""
    message = refusal(dicom_slice(0, RescaleSlope="nan"), dicom_slice(2))
    assert message.startswith("DICOM upload: part 1: RescaleSlope is nan; expected ")


VALUE = st.one_of(
    st.floats(-4.0, 4.0),
    st.sampled_from([0.0, 1e-40, 1e30, 3e38, -1.5, math.nan, math.inf, -math.inf]),
)


@st.composite
def hostile_fields(draw):
    fields = {}
    for _ in range(draw(st.integers(1, 3))):
        name = draw(
            st.sampled_from(
                ["pixdim", "srow_x", "srow_y", "srow_z", "quatern_b", "qoffset_x", "scl_slope"]
            )
        )
        if name == "pixdim":
            fields[name] = [1, *(draw(VALUE) for _ in range(3)), 1, 1, 1, 1]
        elif name.startswith("srow"):
            fields[name] = [draw(VALUE) for _ in range(4)]
        else:
            fields[name] = draw(VALUE)
    fields["sform_code"] = draw(st.sampled_from([0, 1]))
    fields["qform_code"] = draw(st.sampled_from([0, 1]))
    return fields


@settings(max_examples=100, deadline=None)
@given(fields=hostile_fields())
def test_any_nifti_upload_is_a_usable_volume_or_a_4xx(fields):
    try:
        volume = read_volume_upload([UploadPart(None, nifti_bytes(**fields))], LIMITS)
    except UploadError as error:
        status = error.status
        volume = None
    if volume is None:
        assert 400 <= status < 500
        return
    assert np.isfinite(volume.affine).all()
    assert np.isfinite(np.linalg.inv(volume.affine)).all()
    assert all(size > 0 and math.isfinite(size) for size in volume.spacing)
    assert np.isfinite(volume.array).all()
