"""The rules a header value must pass before any reader computes with it.

Headers are written by whoever made the file, and a broken or hostile one holds NaN, Inf, 0,
1e308, 'abc' or two values where one belongs. Unchecked, these flow into the arithmetic: a
singular affine makes resampling divide by zero, a NaN RescaleSlope turns every voxel into NaN
(and a segmentation into an empty mask that looks like an answer), a 1e30 mm spacing
overflows float32. So every reader (NIfTI, DICOM series, radiograph) passes the values it
uses through these functions, from the header and before any pixel is decoded, and refuses
the file with one line naming the attribute and the bad value.

The functions are pure: values in, checked values out, or an InvalidHeaderValueError
(InvalidGeometryError for spacing, orientation and affines). Messages show technical numbers
only (spacings, cosines, slopes), each capped in length: none of these attributes says who
the patient is.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Collection, Sequence
from typing import Final

import numpy as np
from numpy.typing import NDArray

from medai.io.errors import InvalidGeometryError, InvalidHeaderValueError, MedicalImageError

Source = str | os.PathLike[str]
"""What the value came from (a file, a folder, an upload part): the error's path."""

MIN_SPACING_MM: Final = 1e-4
"""Smallest voxel or pixel size accepted (0.1 micrometre), with MAX_SPACING_MM the bounds.

Below: no medical imager (micro-CT and whole-slide scanners included) resolves less than
0.1 um, and a smaller size is a unit mix-up (metres for millimetres, twice) or a hostile
header; a 1e-30 mm voxel would shrink the whole image into one model voxel and give a
confident answer about nothing. Above: the readers refuse only what cannot be computed
with (NIfTI stores the affine as float32, 1.2e-38 to 3.4e38); whether a large size is
plausible, and how large a grid it resamples to, is for the resampler's work limits.
"""
MAX_SPACING_MM: Final = 1e32
"""Largest voxel or pixel size accepted; see MIN_SPACING_MM."""
MAX_POSITION_MM: Final = 1e32
"""Farthest an image origin may lie from the scanner's origin, by the same float32 rule."""
UNIT_TOLERANCE: Final = 1e-2
"""How far direction cosines may be from unit length and from orthogonal.

Headers store them as short decimal strings (0.7071), so exact tests would refuse real
scans; 0.01 (about half a degree) still refuses anything that is not a rotation.
"""
MIN_AXIS_INDEPENDENCE: Final = 1e-2
"""Smallest |determinant| of an affine's voxel axes scaled to unit length.

It is 1 for orthogonal axes, cos(tilt) for a gantry tilt (0.87 at 30 degrees) and 0 when
the axes are coplanar; below 0.01 (an axis within half a degree of the others' plane)
inverting the affine multiplies rounding errors a hundredfold.
"""
MIN_RESCALE_SLOPE: Final = 1e-9
"""Smallest |RescaleSlope|: 0 would make every voxel the same value, and so would a slope
small enough to flush stored values to zero."""
MAX_RESCALE: Final = 1e6
"""Largest |RescaleSlope| and |RescaleIntercept|. Scanners write 1 and -1024 (CT) or PET
slopes of 1e-3 to 1e2; a million keeps even 32-bit stored values finite in float32."""
MAX_WINDOW: Final = 1e12
"""Largest |WindowCenter| and WindowWidth: beyond any rescaled range, and small enough that
probing a hundred widths past the centre stays finite."""
LUT_MAX_ENTRIES: Final = 2**16
"""A LUT Descriptor's entry count is a 16-bit number; 0 stands for 65536."""
MODALITY_LUT_BITS: Final = frozenset({8, 16})
"""Bits per Modality LUT entry the standard allows (and pydicom can unpack)."""
VOI_LUT_BITS: Final = frozenset({8, *range(10, 17)})
"""Bits per VOI LUT entry pydicom can apply."""
VOI_LUT_FUNCTIONS: Final = ("LINEAR", "LINEAR_EXACT", "SIGMOID")
"""VOILUTFunction defined terms; absent means LINEAR."""

_FLOAT32_MAX: Final = float(np.finfo(np.float32).max)
_DECIMAL: Final = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_NON_FINITE_WORDS: Final = frozenset({"nan", "inf", "infinity"})
_STRIPPED: Final = " \0"  # DICOM pads text to an even length with a space (or, wrongly, NUL)
_SHOWN_VALUES: Final = 6
_SHOWN_CHARS: Final = 24
_COUNT_WORDS: Final = {1: "one", 2: "two", 3: "three", 6: "six"}
_AFFINE_SHAPE: Final = (4, 4)
_LAST_ROW: Final = (0.0, 0.0, 0.0, 1.0)
_LUT_FIRST_RANGE: Final = (-(2**15), 2**16 - 1)  # the first value mapped is US or SS
_DESCRIPTOR_VALUES: Final = 3


# --- Parsing -------------------------------------------------------------------------------


def numbers(
    source: Source,
    attribute: str,
    value: object,
    *,
    count: int | None,
    expected: str,
    kind: type[InvalidHeaderValueError] = InvalidHeaderValueError,
) -> NDArray[np.float64]:
    """Parse a header value into floats: a DICOM string, number, multi-value, or an array.

    Text follows the DICOM decimal string syntax ("1e3", " -0.5 "); "nan" and "inf" parse,
    so that the caller's range check can name them. Nothing else is read as a number:
    Python's float() would also take "1_0" and "infinity" variants no writer produces.

    Args:
        source: Names the file in the error.
        attribute: Names the value in the error ("file 3: PixelSpacing").
        value: The value as the header library gives it.
        count: How many values are expected; None means one or more.
        expected: What a valid value looks like, for the message.
        kind: The error type to raise (geometry attributes raise InvalidGeometryError).

    Returns:
        The values, NaN and Inf included.

    Raises:
        InvalidHeaderValueError: (or ``kind``) If the value is empty, not numbers, or has
            another number of values.
    """
    items = _items(value)
    parsed = _parsed(items)
    wrong_count = count is not None and len(items) != count
    if parsed is None or wrong_count:
        raise kind(source, f"{attribute} is {_shown_raw(items)}; expected {expected}")
    return np.array(parsed, dtype=np.float64)


def _parsed(items: Sequence[object]) -> list[float] | None:
    """All items as floats, or None if there are none or one is not a number."""
    parsed = [_number(item) for item in items]
    if not parsed or any(number is None for number in parsed):
        return None
    return [number for number in parsed if number is not None]


def _items(value: object) -> list[object]:
    if value is None:
        return []
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if isinstance(value, str):
        text = value.strip(_STRIPPED)
        return [] if not text else list(text.split("\\"))
    if isinstance(value, np.ndarray):
        return list(value.ravel().tolist())
    if isinstance(value, Sequence):
        return list(value)
    return [value]


def _number(item: object) -> float | None:
    if isinstance(item, bool | np.bool_):
        return None
    if isinstance(item, int | float | np.integer | np.floating):
        try:
            return float(item)
        except OverflowError:  # an integer beyond float64
            return None
    if not isinstance(item, str):
        return None
    text = item.strip(_STRIPPED)
    if _DECIMAL.fullmatch(text) or text.lower().lstrip("+-") in _NON_FINITE_WORDS:
        return float(text)  # "1e999" is inf here, and is refused as such by the caller
    return None


def _shown_raw(items: Sequence[object]) -> str:
    if not items:
        return "empty"
    shown = [_shown_item(item) for item in items[:_SHOWN_VALUES]]
    more = ", ..." if len(items) > _SHOWN_VALUES else ""
    return shown[0] if len(items) == 1 else f"[{', '.join(shown)}{more}]"


def _shown_item(item: object) -> str:
    number = _number(item)
    if number is not None:
        return f"{number:.6g}"
    text = str(item)
    return repr(text[:_SHOWN_CHARS] + ("..." if len(text) > _SHOWN_CHARS else ""))


def _shown(values: NDArray[np.float64] | Sequence[float]) -> str:
    return _shown_raw(list(np.asarray(values, dtype=np.float64).ravel().tolist()))


def _in_range(values: NDArray[np.float64], low: float, high: float) -> bool:
    return bool(np.isfinite(values).all() and (values >= low).all() and (values <= high).all())


# --- Geometry ------------------------------------------------------------------------------


def spacing(source: Source, attribute: str, value: object, *, count: int) -> NDArray[np.float64]:
    """Check voxel or pixel sizes: ``count`` positive finite millimetres within range.

    Args:
        source: Names the file in the error.
        attribute: Names the value ("PixelSpacing", "pixdim[1:4]").
        value: The raw header value.
        count: How many sizes the attribute holds.

    Returns:
        The sizes in mm.

    Raises:
        InvalidGeometryError: If a size is missing, not a number, not positive, or outside
            [MIN_SPACING_MM, MAX_SPACING_MM].
    """
    plural = "s" if count > 1 else ""
    expected = (
        f"{_COUNT_WORDS.get(count, count)} positive finite number{plural} (mm) "
        f"between {MIN_SPACING_MM:g} and {MAX_SPACING_MM:g}"
    )
    values = numbers(
        source, attribute, value, count=count, expected=expected, kind=InvalidGeometryError
    )
    if not _in_range(values, MIN_SPACING_MM, MAX_SPACING_MM):
        raise InvalidGeometryError(source, f"{attribute} is {_shown(values)}; expected {expected}")
    return values


def position(source: Source, attribute: str, value: object) -> NDArray[np.float64]:
    """Check a point in patient space (ImagePositionPatient, a qform offset).

    Raises:
        InvalidGeometryError: If it is not three finite numbers within +-MAX_POSITION_MM.
    """
    expected = f"three finite numbers (mm) between {-MAX_POSITION_MM:g} and {MAX_POSITION_MM:g}"
    values = numbers(
        source, attribute, value, count=3, expected=expected, kind=InvalidGeometryError
    )
    if not _in_range(values, -MAX_POSITION_MM, MAX_POSITION_MM):
        raise InvalidGeometryError(source, f"{attribute} is {_shown(values)}; expected {expected}")
    return values


def direction_cosines(
    source: Source, attribute: str, value: object
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Check ImageOrientationPatient: a row and a column direction, orthogonal unit vectors.

    Returns:
        (row cosine, column cosine), as written (not re-normalised).

    Raises:
        InvalidGeometryError: If there are not six finite numbers, or either vector is not of
            unit length, or they are not orthogonal (within UNIT_TOLERANCE).
    """
    expected = "six finite numbers: two orthogonal unit vectors (row, then column direction)"
    values = numbers(
        source, attribute, value, count=6, expected=expected, kind=InvalidGeometryError
    )
    row, column = values[:3], values[3:]
    problem = _cosines_problem(row, column)
    if problem:
        raise InvalidGeometryError(
            source, f"{attribute} is {_shown(values)}; expected {expected}, but {problem}"
        )
    return row, column


def _cosines_problem(row: NDArray[np.float64], column: NDArray[np.float64]) -> str | None:
    if not (np.isfinite(row).all() and np.isfinite(column).all()):
        return "it holds NaN or Inf"
    for name, vector in (("row", row), ("column", column)):
        length = math.hypot(*vector.tolist())
        if abs(length - 1.0) > UNIT_TOLERANCE:
            return f"the {name} vector has length {length:.3g}"
    cosine = float(row @ column)
    if abs(cosine) > UNIT_TOLERANCE:
        return f"they are not orthogonal (the cosine of their angle is {cosine:.3g})"
    return None


def affine(source: Source, name: str, matrix: object) -> NDArray[np.float64]:
    """Check a voxel-to-world matrix: finite, invertible, sane voxel sizes and origin.

    Args:
        source: Names the file in the error.
        name: Names the matrix ("sform", "qform", "affine from the slice positions").
        matrix: A 4x4 array-like.

    Returns:
        The matrix as float64. Its inverse exists and is finite: voxel sizes are within
        [MIN_SPACING_MM, MAX_SPACING_MM] and the unit axes' determinant is at least
        MIN_AXIS_INDEPENDENCE.

    Raises:
        InvalidGeometryError: If the matrix is not 4x4, holds NaN or Inf, has a last row
            other than [0, 0, 0, 1], is singular, has out-of-range voxel sizes or origin, or
            has (nearly) collinear voxel axes.
    """
    values = np.asarray(matrix, dtype=np.float64)
    if values.shape != _AFFINE_SHAPE:
        raise InvalidGeometryError(source, f"{name} has shape {values.shape}; expected 4 x 4")
    if np.isnan(values).any():
        raise InvalidGeometryError(source, f"{name} holds NaN")
    if np.isinf(values).any():
        raise InvalidGeometryError(source, f"{name} holds Inf")
    if not np.array_equal(values[3], _LAST_ROW):
        raise InvalidGeometryError(
            source, f"{name} has last row {_shown(values[3])}; expected [0, 0, 0, 1]"
        )
    _check_axes(source, name, values[:3, :3])
    origin = values[:3, 3]
    if not _in_range(origin, -MAX_POSITION_MM, MAX_POSITION_MM):
        raise InvalidGeometryError(
            source,
            f"{name} places the origin at {_shown(origin)} mm; expected each coordinate "
            f"between {-MAX_POSITION_MM:g} and {MAX_POSITION_MM:g}",
        )
    return values


def _check_axes(source: Source, name: str, linear: NDArray[np.float64]) -> None:
    sizes_expected = f"each between {MIN_SPACING_MM:g} and {MAX_SPACING_MM:g}"
    largest = float(np.abs(linear).max())
    if largest > MAX_SPACING_MM:  # before squaring: 1e200 squared would overflow
        raise InvalidGeometryError(
            source,
            f"{name} has a voxel axis longer than {MAX_SPACING_MM:g} mm "
            f"(an entry is {largest:.3g}); expected voxel sizes {sizes_expected}",
        )
    sizes = np.array([math.hypot(*column) for column in linear.T.tolist()])
    # LAPACK's LU warns ("divide by zero") on an exactly singular matrix; the answer, 0,
    # is what is checked, so the warning is not news (and is an error under -W error).
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        if (sizes == 0).any() or np.linalg.det(linear) == 0:
            raise InvalidGeometryError(source, f"{name} is singular (determinant 0)")
        if not _in_range(sizes, MIN_SPACING_MM, MAX_SPACING_MM):
            raise InvalidGeometryError(
                source, f"{name} has voxel sizes {_shown(sizes)} mm; expected {sizes_expected}"
            )
        independence = abs(float(np.linalg.det(linear / sizes)))
    if independence < MIN_AXIS_INDEPENDENCE:
        raise InvalidGeometryError(
            source,
            f"{name} has (nearly) collinear voxel axes (determinant of the unit axes "
            f"{independence:.3g}; expected at least {MIN_AXIS_INDEPENDENCE:g})",
        )


# --- Intensity mapping ---------------------------------------------------------------------


def rescale_slope(source: Source, attribute: str, value: object) -> float:
    """Check RescaleSlope: finite, non-zero, within [MIN_RESCALE_SLOPE, MAX_RESCALE] in size.

    Raises:
        InvalidHeaderValueError: If it is not one such number.
    """
    expected = f"a finite non-zero number with {MIN_RESCALE_SLOPE:g} <= |value| <= {MAX_RESCALE:g}"
    (slope,) = numbers(source, attribute, value, count=1, expected=expected)
    if not (math.isfinite(slope) and MIN_RESCALE_SLOPE <= abs(slope) <= MAX_RESCALE):
        raise InvalidHeaderValueError(source, f"{attribute} is {slope:.6g}; expected {expected}")
    return float(slope)


def rescale_intercept(source: Source, attribute: str, value: object) -> float:
    """Check RescaleIntercept: one finite number of at most MAX_RESCALE in size.

    Raises:
        InvalidHeaderValueError: If it is not one such number.
    """
    expected = f"a finite number with |value| <= {MAX_RESCALE:g}"
    (intercept,) = numbers(source, attribute, value, count=1, expected=expected)
    if not (math.isfinite(intercept) and abs(intercept) <= MAX_RESCALE):
        raise InvalidHeaderValueError(
            source, f"{attribute} is {intercept:.6g}; expected {expected}"
        )
    return float(intercept)


def window(
    source: Source, prefix: str, center: object, width: object, function: object
) -> tuple[float, float]:
    """Check the first WindowCenter/WindowWidth pair and the VOILUTFunction they go with.

    The pair is one window, so a refusal names both attributes and shows both values. Only
    the first pair is checked because only the first is applied (pydicom's default).

    Args:
        source: Names the file in the error.
        prefix: Put before attribute names ("" or "file 3: ").
        center: The raw WindowCenter value (one or more numbers).
        width: The raw WindowWidth value.
        function: The VOILUTFunction value, or None when the element is absent (LINEAR).

    Returns:
        (centre, width) of the first window.

    Raises:
        InvalidHeaderValueError: If the function is not a defined term, the centre is not
            finite or beyond MAX_WINDOW, or the width is not positive (at least 1 for LINEAR,
            as PS3.3 C.11.2.1.2 requires) or beyond MAX_WINDOW.
    """
    name = "LINEAR" if function is None else str(function).strip(_STRIPPED).upper()
    if name not in VOI_LUT_FUNCTIONS:
        raise InvalidHeaderValueError(
            source,
            f"{prefix}VOILUTFunction is {_shown_raw(_items(function))}; "
            f"expected {', '.join(VOI_LUT_FUNCTIONS[:-1])} or {VOI_LUT_FUNCTIONS[-1]}",
        )
    linear = name == "LINEAR"
    expected = (
        f"a finite centre with |value| <= {MAX_WINDOW:g} and a width between "
        f"{'1' if linear else '0 (exclusive)'} and {MAX_WINDOW:g} ({name})"
    )
    centers, widths = _parsed(_items(center)), _parsed(_items(width))
    valid = (
        centers is not None
        and widths is not None
        and _in_range(np.array(centers[:1]), -MAX_WINDOW, MAX_WINDOW)
        and _in_range(np.array(widths[:1]), 1.0 if linear else math.ulp(0.0), MAX_WINDOW)
    )
    if not valid or centers is None or widths is None:
        shown = f"{_shown_raw(_items(center))}/{_shown_raw(_items(width))}"
        raise InvalidHeaderValueError(
            source, f"{prefix}WindowCenter/WindowWidth is {shown}; expected {expected}"
        )
    return centers[0], widths[0]


def lut_descriptor(
    source: Source,
    attribute: str,
    descriptor: object,
    *,
    data_entries: int,
    bits: Collection[int],
) -> tuple[int, int, int]:
    """Check a LUT Descriptor (entries, first value mapped, bits) against its LUT Data.

    Args:
        source: Names the file in the error.
        attribute: Names the sequence item ("ModalityLUTSequence[0]").
        descriptor: The raw LUTDescriptor value.
        data_entries: How many entries the item's LUTData holds.
        bits: Bits per entry the caller can apply.

    Returns:
        (entries, first value mapped, bits per entry), entries with 0 read as 65536.

    Raises:
        InvalidHeaderValueError: If the descriptor is not three integers in range, its bits
            are not in ``bits``, or LUTData holds another number of entries.
    """
    allowed = ", ".join(str(value) for value in sorted(bits))
    expected = (
        "three integers: entries (0 means 65536), first stored value mapped, "
        f"bits per entry ({allowed})"
    )
    values = numbers(
        source,
        f"{attribute}.LUTDescriptor",
        descriptor,
        count=_DESCRIPTOR_VALUES,
        expected=expected,
    )
    entries, first, depth = values.tolist()
    first_low, first_high = _LUT_FIRST_RANGE
    valid = (
        all(math.isfinite(number) and number.is_integer() for number in values.tolist())
        and 0 <= entries < LUT_MAX_ENTRIES
        and first_low <= first <= first_high
        and int(depth) in bits
    )
    if not valid:
        raise InvalidHeaderValueError(
            source, f"{attribute}.LUTDescriptor is {_shown(values)}; expected {expected}"
        )
    count = int(entries) or LUT_MAX_ENTRIES
    if data_entries != count:
        raise InvalidHeaderValueError(
            source,
            f"{attribute}.LUTData has {data_entries} entries; its LUTDescriptor says {count}",
        )
    return count, int(first), int(depth)


# --- Pixels --------------------------------------------------------------------------------


def finite_pixels(source: Source, what: str, values: NDArray[np.generic]) -> None:
    """Check that every pixel value is finite, and stays finite when cast to float32.

    Checking before the cast keeps numpy's overflow warning (an error under ``-W error``)
    out of the reader, and the message names the cause instead of a later NaN.

    Args:
        source: Names the file in the error.
        what: Names the values, as the subject of "are not finite" ("file 3: pixel values
            after the Modality LUT").
        values: The array.

    Raises:
        MedicalImageError: If a value is NaN, infinite or beyond the float32 range.
    """
    if values.dtype.kind != "f" or not values.size:
        return  # integers: finite, and within float32's range up to 64 bits
    magnitude = np.abs(values)
    if not (np.isfinite(magnitude).all() and float(magnitude.max()) <= _FLOAT32_MAX):
        raise MedicalImageError(
            source, f"{what} are not finite in float32 (NaN, Inf or beyond {_FLOAT32_MAX:.3g})"
        )
