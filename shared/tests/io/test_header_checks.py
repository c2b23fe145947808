"""The header rules every reader applies: each refusal names the attribute and the bad value."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from pydicom.multival import MultiValue
from pydicom.valuerep import DSfloat

from medai.io import InvalidGeometryError, InvalidHeaderValueError, MedicalImageError
from medai.io import header_checks as checks

SOURCE = "scan.nii"
SPACING_RULE = "positive finite numbers (mm) between 0.0001 and 1e+32"
SLOPE_RULE = "expected a finite non-zero number with 1e-09 <= |value| <= 1e+06"
COSINES_RULE = (
    "expected six finite numbers: two orthogonal unit vectors (row, then column direction)"
)
TILTED = np.array(  # a 30 degree gantry tilt: the slice step leans along y
    [
        [0.7, 0, 0, 10],
        [0, 0.7, 2.5 * math.sin(math.pi / 6), -20],
        [0, 0, 2.5 * math.cos(math.pi / 6), 5],
        [0, 0, 0, 1],
    ]
)


def _reason(kind, check, *args, **kwargs):
    with pytest.raises(kind) as caught:
        check(SOURCE, *args, **kwargs)
    assert str(caught.value) == f"{SOURCE}: {caught.value.reason}"
    assert "\n" not in caught.value.reason
    return caught.value.reason


# --- Parsing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1.5", [1.5]),
        (" -0.5 ", [-0.5]),
        ("1e3", [1000.0]),
        ("+.25\0", [0.25]),
        (b"0.5\\0.7", [0.5, 0.7]),
        ("0.5\\0.7", [0.5, 0.7]),
        (["0.5", 0.7], [0.5, 0.7]),
        (MultiValue(DSfloat, ["0.5", "0.7"]), [0.5, 0.7]),
        (DSfloat("0.25"), [0.25]),
        (np.array([1, 2], np.float32), [1.0, 2.0]),
        (np.int16(3), [3.0]),
    ],
)
def test_numbers_reads_dicom_strings_multi_values_and_arrays(value, expected):
    count = len(expected)
    assert checks.numbers(SOURCE, "X", value, count=count, expected="E").tolist() == expected


def test_numbers_keeps_nan_and_inf_so_that_the_rule_can_name_them():
    values = checks.numbers(SOURCE, "X", "nan\\-inf\\1e999", count=3, expected="E")
    assert math.isnan(values[0])
    assert values[1:].tolist() == [-math.inf, math.inf]


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("abc", "'abc'"),
        ("", "empty"),
        (None, "empty"),
        ("1_0", "'1_0'"),  # Python's float() takes it; no DICOM writer does
        ("0x10", "'0x10'"),
        ("1\\2", "[1, 2]"),
        ("\\", "['', '']"),
        (True, "'True'"),
        (10**400, f"'{str(10**400)[:24]}...'"),
        ("a" * 40, f"'{'a' * 24}...'"),  # shown capped: a header can hold anything
    ],
)
def test_numbers_refuses_what_is_not_one_number_showing_it_capped(value, shown):
    reason = _reason(InvalidHeaderValueError, checks.numbers, "X", value, count=1, expected="E")
    assert reason == f"X is {shown}; expected E"


def test_numbers_with_no_fixed_count_wants_at_least_one():
    assert checks.numbers(SOURCE, "X", "1\\2\\3", count=None, expected="E").tolist() == [1, 2, 3]
    assert _reason(InvalidHeaderValueError, checks.numbers, "X", "", count=None, expected="E") == (
        "X is empty; expected E"
    )


# --- Geometry ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (["0", "0.7"], "[0, 0.7]"),
        (["-0.66", "0.66"], "[-0.66, 0.66]"),
        (["nan", "0.66"], "[nan, 0.66]"),
        (["1e308", "0.66"], "[1e+308, 0.66]"),
        (["1e-40", "0.66"], "[1e-40, 0.66]"),
        (["0.66"], "0.66"),
        ("abc\\0.5", "['abc', 0.5]"),
    ],
)
def test_spacing_refuses_non_positive_non_finite_or_absurd_sizes(value, shown):
    reason = _reason(InvalidGeometryError, checks.spacing, "file 3: PixelSpacing", value, count=2)
    assert reason == f"file 3: PixelSpacing is {shown}; expected two {SPACING_RULE}"


@pytest.mark.parametrize("value", [["0.661468", "0.5"], ["0.0001", "1e30"]])
def test_spacing_accepts_what_can_be_computed_with_however_implausible(value):
    """A 1e30 mm voxel is the resampler's to refuse (its grid); the reader can compute with it."""
    assert checks.spacing(SOURCE, "PixelSpacing", value, count=2).tolist() == [
        float(v) for v in value
    ]


def test_spacing_of_one_value_says_one():
    reason = _reason(InvalidGeometryError, checks.spacing, "SliceThickness", "0", count=1)
    assert (
        reason == f"SliceThickness is 0; expected one {SPACING_RULE.replace('numbers', 'number')}"
    )


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ([0, 0, 0, 0, 0, 0], "the row vector has length 0"),
        ([2, 0, 0, 0, 2, 0], "the row vector has length 2"),
        ([1, 0, 0, 0, 0.5, 0], "the column vector has length 0.5"),
        (
            [1, 0, 0, 0.7071, 0.7071, 0],
            "they are not orthogonal (the cosine of their angle is 0.707)",
        ),
        ([1, 0, 0, 1, 0, 0], "they are not orthogonal (the cosine of their angle is 1)"),
        ([1, 0, "nan", 0, 1, 0], "it holds NaN or Inf"),
    ],
)
def test_direction_cosines_must_be_orthogonal_unit_vectors(value, problem):
    reason = _reason(
        InvalidGeometryError, checks.direction_cosines, "ImageOrientationPatient", value
    )
    assert reason.startswith("ImageOrientationPatient is [")
    assert reason.endswith(f"; {COSINES_RULE}, but {problem}")


@pytest.mark.parametrize(
    "value",
    [
        [1, 0, 0, 0, 1, 0],
        [0.6, 0.8, 0, 0, 0, -1],
        ["0.7071", "0.7071", "0", "-0.7071", "0.7071", "0"],
    ],
)
def test_direction_cosines_accept_rotations_written_with_short_decimals(value):
    row, column = checks.direction_cosines(SOURCE, "ImageOrientationPatient", value)
    assert row.tolist() == [float(v) for v in value[:3]]
    assert column.tolist() == [float(v) for v in value[3:]]


def test_direction_cosines_need_six_numbers():
    reason = _reason(InvalidGeometryError, checks.direction_cosines, "IOP", [1, 0, 0, 0, 1])
    assert reason == f"IOP is [1, 0, 0, 0, 1]; {COSINES_RULE}"


@pytest.mark.parametrize("value", [["0", "0", "1e308"], ["nan", "0", "0"], ["1", "2"]])
def test_position_must_be_three_finite_numbers_in_range(value):
    reason = _reason(InvalidGeometryError, checks.position, "ImagePositionPatient", value)
    assert reason.endswith("; expected three finite numbers (mm) between -1e+32 and 1e+32")


def _matrix(*columns, origin=(0.0, 0.0, 0.0)):
    affine = np.eye(4)
    for index, column in enumerate(columns):
        affine[:3, index] = column
    affine[:3, 3] = origin
    return affine


@pytest.mark.parametrize(
    ("matrix", "reason"),
    [
        (_matrix((np.nan, 0, 0), (0, 1, 0), (0, 0, 1)), "sform holds NaN"),
        (_matrix((1, 0, 0), (0, np.inf, 0), (0, 0, 1)), "sform holds Inf"),
        (_matrix((1, 0, 0), (0, 1, 0), (0, 0, 1), origin=(-np.inf, 0, 0)), "sform holds Inf"),
        (_matrix((1.5, 0, 0), (0, 1.5, 0), (0, 0, 0)), "sform is singular (determinant 0)"),
        (_matrix((1.5, 0, 0), (3, 0, 0), (0, 0, 1.5)), "sform is singular (determinant 0)"),
        (
            _matrix((1, 0, 0), (1, 1e-3, 0), (0, 0, 1)),
            (
                "sform has (nearly) collinear voxel axes (determinant of the unit axes 0.001; "
                "expected at least 0.01)"
            ),
        ),
        (
            _matrix((1e-40, 0, 0), (0, 1, 0), (0, 0, 1)),
            "sform has voxel sizes [1e-40, 1, 1] mm; expected each between 0.0001 and 1e+32",
        ),
        (
            _matrix((1e200, 0, 0), (0, 1, 0), (0, 0, 1)),
            (
                "sform has a voxel axis longer than 1e+32 mm (an entry is 1e+200); expected voxel "
                "sizes each between 0.0001 and 1e+32"
            ),
        ),
        (
            _matrix((1, 0, 0), (0, 1, 0), (0, 0, 1), origin=(1e40, 0, 0)),
            (
                "sform places the origin at [1e+40, 0, 0] mm; expected each coordinate between "
                "-1e+32 and 1e+32"
            ),
        ),
        (
            np.vstack([np.eye(4)[:3], [0, 0, 1, 1]]),
            "sform has last row [0, 0, 1, 1]; expected [0, 0, 0, 1]",
        ),
        (np.eye(3), "sform has shape (3, 3); expected 4 x 4"),
    ],
)
def test_affine_refusals_name_the_matrix_and_what_is_wrong(matrix, reason):
    assert _reason(InvalidGeometryError, checks.affine, "sform", matrix) == reason


@pytest.mark.parametrize("matrix", [TILTED, _matrix((0.6, 0.8, 0), (0, 0, -1.25), (-0.8, 0.6, 0))])
def test_affine_accepts_oblique_and_gantry_tilted_grids(matrix):
    np.testing.assert_array_equal(checks.affine(SOURCE, "affine", matrix), matrix)


SPECIAL = st.sampled_from(
    [0.0, -0.0, 1e-40, 1e-30, 1e30, 1e40, 1e300, -1e300, math.nan, math.inf, -math.inf]
)
ENTRY = st.one_of(st.floats(-10.0, 10.0), st.floats(allow_nan=True, allow_infinity=True), SPECIAL)


@settings(max_examples=300)
@given(
    linear=arrays(np.float64, (3, 3), elements=ENTRY), origin=arrays(np.float64, 3, elements=ENTRY)
)
def test_an_accepted_affine_is_finite_and_invertible_with_positive_spacing(linear, origin):
    matrix = np.eye(4)
    matrix[:3, :3], matrix[:3, 3] = linear, origin
    try:
        accepted = checks.affine(SOURCE, "affine", matrix)
    except InvalidGeometryError:
        return
    assert np.isfinite(accepted).all()
    assert np.linalg.det(accepted) != 0
    assert np.isfinite(np.linalg.inv(accepted)).all()
    sizes = np.linalg.norm(accepted[:3, :3], axis=0)
    assert (sizes > 0).all()
    assert np.isfinite(sizes).all()


@settings(max_examples=200)
@given(
    rotation=arrays(np.float64, (3, 3), elements=st.floats(-1.0, 1.0)),
    sizes=arrays(np.float64, 3, elements=st.floats(1e-3, 1e3)),
)
def test_near_singular_grids_are_refused_or_well_conditioned(rotation, sizes):
    """Random axes include nearly coplanar ones; what is accepted has a bounded condition."""
    matrix = np.eye(4)
    matrix[:3, :3] = rotation * sizes
    try:
        checks.affine(SOURCE, "affine", matrix)
    except InvalidGeometryError:
        return
    unit = matrix[:3, :3] / np.linalg.norm(matrix[:3, :3], axis=0)
    assert abs(np.linalg.det(unit)) >= checks.MIN_AXIS_INDEPENDENCE


# --- Intensity mapping ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("nan", "nan"),
        ("inf", "inf"),
        ("1e308", "1e+308"),
        ("0", "0"),
        ("1e-12", "1e-12"),
        ("abc", "'abc'"),
        ("", "empty"),
        ("1\\2", "[1, 2]"),
    ],
)
def test_rescale_slope_refusals_name_the_value(value, shown):
    reason = _reason(InvalidHeaderValueError, checks.rescale_slope, "RescaleSlope", value)
    assert reason == f"RescaleSlope is {shown}; {SLOPE_RULE}"


@pytest.mark.parametrize("value", ["1", "-2.5", "0.0025", DSfloat("1000")])
def test_rescale_slope_accepts_ct_and_pet_slopes(value):
    assert checks.rescale_slope(SOURCE, "RescaleSlope", value) == float(value)


@pytest.mark.parametrize("value", ["nan", "-1e308", "-inf", "x"])
def test_rescale_intercept_must_be_finite_and_in_range(value):
    reason = _reason(InvalidHeaderValueError, checks.rescale_intercept, "RescaleIntercept", value)
    assert reason.endswith("; expected a finite number with |value| <= 1e+06")


def test_rescale_intercept_of_ct_is_accepted():
    assert checks.rescale_intercept(SOURCE, "RescaleIntercept", "-1024") == -1024.0


WINDOW_RULE = (
    "expected a finite centre with |value| <= 1e+12 and a width between 1 and 1e+12 (LINEAR)"
)


@pytest.mark.parametrize(
    ("center", "width", "shown"),
    [
        ("nan", "400", "nan/400"),
        ("40", "inf", "40/inf"),
        ("40", "0", "40/0"),
        ("40", "-400", "40/-400"),
        ("40", "0.5", "40/0.5"),
        ("40", "1e308", "40/1e+308"),
        ("abc", "400", "'abc'/400"),
        ("40", "", "40/empty"),
    ],
)
def test_window_refusals_name_both_values_of_the_pair(center, width, shown):
    reason = _reason(InvalidHeaderValueError, checks.window, "", center, width, None)
    assert reason == f"WindowCenter/WindowWidth is {shown}; {WINDOW_RULE}"


def test_window_width_below_one_is_fine_for_linear_exact_and_sigmoid():
    for function in ("LINEAR_EXACT", "SIGMOID"):
        assert checks.window(SOURCE, "", "0.5", "0.5", function) == (0.5, 0.5)
    reason = _reason(InvalidHeaderValueError, checks.window, "", "0", "0", "SIGMOID")
    assert reason.endswith("a width between 0 (exclusive) and 1e+12 (SIGMOID)")


def test_window_uses_and_checks_the_first_pair_only():
    assert checks.window(SOURCE, "", ["40", "nan"], ["400", "0"], "LINEAR") == (40.0, 400.0)


def test_window_refuses_an_undefined_voi_lut_function():
    reason = _reason(InvalidHeaderValueError, checks.window, "file 2: ", "40", "400", "GAMMA")
    assert reason == "file 2: VOILUTFunction is 'GAMMA'; expected LINEAR, LINEAR_EXACT or SIGMOID"


LUT_RULE = (
    "expected three integers: entries (0 means 65536), first stored value mapped, bits per entry"
)


@pytest.mark.parametrize(
    ("descriptor", "entries", "expected"),
    [([4096, 0, 16], 4096, (4096, 0, 16)), ([0, -1024, 8], 65536, (65536, -1024, 8))],
)
def test_lut_descriptor_reads_entries_first_and_bits(descriptor, entries, expected):
    assert (
        checks.lut_descriptor(SOURCE, "LUT", descriptor, data_entries=entries, bits={8, 16})
        == expected
    )


@pytest.mark.parametrize(
    "descriptor",
    [[4096, 0, 12], [4096, 0], [70000, 0, 16], [4096, 1e6, 16], [4096.5, 0, 16], ["a", 0, 16]],
)
def test_lut_descriptor_refuses_absurd_values(descriptor):
    reason = _reason(
        InvalidHeaderValueError,
        checks.lut_descriptor,
        "ModalityLUTSequence[0]",
        descriptor,
        data_entries=4096,
        bits={8, 16},
    )
    assert reason.startswith("ModalityLUTSequence[0].LUTDescriptor is ")
    assert reason.endswith(f"; {LUT_RULE} (8, 16)")


def test_lut_descriptor_must_agree_with_its_data():
    reason = _reason(
        InvalidHeaderValueError,
        checks.lut_descriptor,
        "LUT",
        [4096, 0, 16],
        data_entries=10,
        bits={16},
    )
    assert reason == "LUT.LUTData has 10 entries; its LUTDescriptor says 4096"


# --- Pixels --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "values", [np.array([0.0, np.nan]), np.array([np.inf]), np.array([1e39]), np.array([-1e300])]
)
def test_finite_pixels_refuses_nan_inf_and_beyond_float32(values):
    reason = _reason(MedicalImageError, checks.finite_pixels, "pixel values", values)
    assert reason == "pixel values are not finite in float32 (NaN, Inf or beyond 3.4e+38)"


@pytest.mark.parametrize(
    "values",
    [
        np.array([3e38, -3e38]),
        np.array([2**63 - 1], np.int64),
        np.zeros(0),
        np.array([1, 2], np.uint16),
    ],
)
def test_finite_pixels_accepts_what_float32_holds(values):
    checks.finite_pixels(SOURCE, "pixel values", values)
