"""NIfTI headers are checked as the file states them, before nibabel repairs or trusts them."""

import gzip
import math
import tempfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from medai.hostile import raw_nifti
from medai.io import InvalidGeometryError, InvalidHeaderValueError, MedicalImageError, read_nifti
from medai.io.nifti import nifti_image_to_volume
from medai.io.nifti_header import check_header_bytes, header_of_bytes

SHAPE = (8, 8, 8)
AFFINE = np.diag([1.5, 1.5, 2.0, 1.0])
SPACING_RULE = "three positive finite numbers (mm) between 0.0001 and 1e+32"


def nifti_bytes(**fields) -> bytes:
    """An 8^3 NIfTI-1 whose header fields are written raw, exactly as given."""
    voxels = np.arange(np.prod(SHAPE), dtype=np.int16)
    return raw_nifti(shape=SHAPE, affine=AFFINE, voxels=voxels, **fields)


def _read(tmp_path, data: bytes, name="scan.nii.gz"):
    path = tmp_path / name
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    return read_nifti(path)


def _refusal(tmp_path, kind, data: bytes) -> str:
    with pytest.raises(kind) as caught:
        _read(tmp_path, data)
    assert "\n" not in str(caught.value)
    return caught.value.reason


def _sform(*rows):
    return {"srow_x": rows[0], "srow_y": rows[1], "srow_z": rows[2]}


def test_a_valid_header_reads_with_its_affine(tmp_path):
    volume = _read(tmp_path, nifti_bytes())
    np.testing.assert_array_equal(volume.affine, AFFINE)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        (_sform([np.nan, 0, 0, 0], [0, 1.5, 0, 0], [0, 0, 2, 0]), "sform holds NaN"),
        (_sform([1.5, 0, 0, np.inf], [0, 1.5, 0, 0], [0, 0, 2, 0]), "sform holds Inf"),
        (_sform([1.5, 0, 0, 0], [0, 1.5, 0, 0], [0, 0, 0, 0]), "sform is singular (determinant 0)"),
        (
            _sform([1.5, 3, 0, 0], [0, 0, 0, 0], [0, 0, 2, 0]),
            "sform is singular (determinant 0)",  # two collinear voxel axes
        ),
        ({"qoffset_y": np.nan}, "qform holds NaN"),  # beside a valid sform: tools disagree
        ({"sform_code": 0, "quatern_b": np.inf}, "qform holds Inf"),
        (
            {"sform_code": 0, "quatern_b": 2.0},
            (
                "qform quaternion (quatern_b, quatern_c, quatern_d) is [2, 0, 0]; "
                "expected b^2 + c^2 + d^2 <= 1"
            ),
        ),
        (
            {"sform_code": 0, "pixdim": [0.5, 1.5, 1.5, 2, 1, 1, 1, 1]},
            "qfac (pixdim[0]) is 0.5; expected 1 or -1 (0 is read as 1)",
        ),
        ({"sform_code": 99}, "sform_code is 99; expected one of 0, 1, 2, 3, 4, 5"),
    ],
)
def test_degenerate_transforms_are_refused_naming_the_transform(tmp_path, fields, reason):
    assert _refusal(tmp_path, InvalidGeometryError, nifti_bytes(**fields)) == reason


@pytest.mark.parametrize(
    ("pixdim", "shown"),
    [
        ([1, 0, 1.5, 2], "[0, 1.5, 2]"),  # nibabel would quietly read 0 as 1
        ([1, -1.5, 1.5, 2], "[-1.5, 1.5, 2]"),  # and -1.5 as 1.5
        ([1, np.nan, 1.5, 2], "[nan, 1.5, 2]"),
        ([1, 1.5, np.inf, 2], "[1.5, inf, 2]"),
    ],
)
@pytest.mark.parametrize("codes", [(1, 0), (0, 0), (1, 1)], ids=["qform", "no-xform", "both"])
def test_unusable_pixdim_is_refused_as_written_not_as_nibabel_repairs_it(
    tmp_path, pixdim, shown, codes
):
    qform_code, sform_code = codes
    data = nifti_bytes(pixdim=[*pixdim, 1, 1, 1, 1], qform_code=qform_code, sform_code=sform_code)
    reason = _refusal(tmp_path, InvalidGeometryError, data)
    assert reason == f"pixdim[1:4] is {shown}; expected {SPACING_RULE}"


def test_a_transform_that_is_not_declared_is_not_judged(tmp_path):
    """qform_code 0: nibabel and other tools ignore the qform fields, and so do we."""
    volume = _read(tmp_path, nifti_bytes(qform_code=0, quatern_b=np.nan, qoffset_x=np.inf))
    np.testing.assert_array_equal(volume.affine, AFFINE)


def test_qfac_zero_is_read_as_one_like_nibabel_and_itk(tmp_path):
    volume = _read(tmp_path, nifti_bytes(sform_code=0, pixdim=[0, 1.5, 1.5, 2, 1, 1, 1, 1]))
    assert volume.spacing == pytest.approx((1.5, 1.5, 2.0))


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        (
            {"scl_slope": np.inf},
            "scl_slope is inf; expected a finite number (0 or NaN: no scaling)",
        ),
        (
            {"scl_slope": 2.0, "scl_inter": np.nan},
            "scl_inter is nan; expected a finite number, since scl_slope 2 scales the voxels",
        ),
    ],
)
def test_unusable_scaling_is_refused(tmp_path, fields, reason):
    assert _refusal(tmp_path, InvalidHeaderValueError, nifti_bytes(**fields)) == reason


@pytest.mark.parametrize("slope", [0.0, np.nan])
def test_a_zero_or_nan_scl_slope_means_unscaled(tmp_path, slope):
    volume = _read(tmp_path, nifti_bytes(scl_slope=slope, scl_inter=np.nan))
    assert volume.array[1, 0, 0] == 1.0


def test_a_slope_that_overflows_float32_is_refused_as_infinite_voxels(tmp_path):
    reason = _refusal(tmp_path, MedicalImageError, nifti_bytes(scl_slope=1e38))
    assert reason == "contains NaN or infinite voxels"


def test_an_uncompressed_file_is_checked_too(tmp_path):
    with pytest.raises(InvalidGeometryError, match=r"scan\.nii: sform holds NaN"):
        _read(tmp_path, nifti_bytes(srow_x=[np.nan, 0, 0, 0]), name="scan.nii")


def test_an_image_built_in_memory_is_checked_by_the_same_rules():
    image = nib.Nifti1Image(np.zeros(SHAPE, np.float32), AFFINE)
    image.header["srow_y"] = [0.0, 0.0, 0.0, 0.0]
    with pytest.raises(InvalidGeometryError) as caught:
        nifti_image_to_volume("part 1", image)
    assert caught.value.reason == "sform is singular (determinant 0)"


def test_header_of_bytes_ignores_what_is_not_a_nifti_header():
    assert header_of_bytes(b"\0" * 600) is None
    assert header_of_bytes(nifti_bytes()[:100]) is None
    check_header_bytes("noise", b"not a header at all")  # nibabel's load says what it is


def test_a_big_endian_header_is_read_and_checked():
    header = nib.Nifti1Header(endianness=">")
    header.set_data_shape(SHAPE)
    header.set_sform(np.diag([1.5, 1.5, np.nan, 1]), code=1)
    with pytest.raises(InvalidGeometryError, match="sform holds NaN"):
        check_header_bytes("big", header.binaryblock)


# --- Property: whatever the header says, a usable volume or a MedicalImageError ---------------

HOSTILE = st.one_of(
    st.sampled_from(
        [0.0, -0.0, 1e-40, 1e-30, 1e30, 3e38, -1.5, 2.0, math.nan, math.inf, -math.inf]
    ),
    st.floats(width=32),
)
VECTORS = ("pixdim", "srow_x", "srow_y", "srow_z")
SCALARS = (
    "qform_code",
    "sform_code",
    "quatern_b",
    "quatern_c",
    "quatern_d",
    "qoffset_x",
    "qoffset_y",
    "qoffset_z",
    "scl_slope",
    "scl_inter",
)


@st.composite
def headers(draw):
    """A valid oblique header with up to three fields (or vector entries) made hostile."""
    size = st.floats(0.1, 5.0)
    fields = {
        "qform_code": draw(st.sampled_from([0, 1, 2])),
        "sform_code": draw(st.sampled_from([0, 1, 2])),
        "pixdim": [
            draw(st.sampled_from([-1.0, 0.0, 1.0])),
            *draw(st.tuples(size, size, size)),
            1,
            1,
            1,
            1,
        ],
        "scl_slope": draw(st.sampled_from([1.0, 0.0, math.nan, 2.5])),
        "scl_inter": draw(st.sampled_from([0.0, -1024.0])),
    }
    for name in ("quatern_b", "quatern_c", "quatern_d"):
        fields[name] = draw(st.floats(-0.57, 0.57))
    for name in ("qoffset_x", "qoffset_y", "qoffset_z"):
        fields[name] = draw(st.floats(-500.0, 500.0))
    for name in ("srow_x", "srow_y", "srow_z"):
        fields[name] = draw(st.lists(st.floats(-3.0, 3.0), min_size=4, max_size=4))
    for _ in range(draw(st.integers(0, 3))):
        name = draw(st.sampled_from(VECTORS + SCALARS))
        if name in VECTORS:
            fields[name] = list(fields[name])
            fields[name][draw(st.integers(0, 3))] = draw(HOSTILE)
        elif name.endswith("_code"):
            fields[name] = draw(st.sampled_from([3, 4, 5, 7, 99]))
        else:
            fields[name] = draw(HOSTILE)
    return fields


def _assert_usable(volume) -> None:
    assert np.isfinite(volume.affine).all()
    assert np.linalg.det(volume.affine) != 0
    assert np.isfinite(np.linalg.inv(volume.affine)).all()
    assert all(size > 0 and math.isfinite(size) for size in volume.spacing)
    assert np.isfinite(volume.array).all()


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(fields=headers())
def test_read_nifti_gives_a_usable_volume_or_a_medical_image_error(fields):
    data = nifti_bytes(**fields)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "scan.nii"
        path.write_bytes(data)
        try:
            volume = read_nifti(path)
        except MedicalImageError:
            return
    _assert_usable(volume)


@settings(max_examples=150, deadline=None)
@given(fields=headers())
def test_bytes_in_memory_give_a_usable_volume_or_a_medical_image_error(fields):
    """The upload path: the raw header check, then nibabel, then nifti_image_to_volume."""
    data = nifti_bytes(**fields)
    try:
        check_header_bytes("part 1", data)
        volume = nifti_image_to_volume("part 1", nib.Nifti1Image.from_bytes(data))
    except MedicalImageError:
        return
    _assert_usable(volume)
