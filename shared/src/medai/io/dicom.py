"""Reading one DICOM series (a folder of single-frame slices) into a NIfTI-convention volume.

All headers are read and cross-checked before any pixel data is decoded, so a bad folder fails
fast and with a message about geometry rather than a decoder error. Every number the volume is
computed from (orientation, positions, spacings, rescale) passes medai.io.header_checks first.
Messages name files and those technical values only, never other header values: those can
identify the patient.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from numpy.typing import NDArray
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.pixels.processing import apply_modality_lut

from medai.io import header_checks
from medai.io.acceptance import DicomAcceptance
from medai.io.dicom_values import PYDICOM_ERRORS, check_modality_lut, value_of
from medai.io.errors import InvalidHeaderValueError, MedicalImageError
from medai.io.volume import Volume

# DICOMDIR indexes a media folder; hidden files are OS clutter (.DS_Store). Neither is a slice.
_SKIPPED_NAMES = frozenset({"DICOMDIR"})
_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
# DICOM patient space is LPS+, NIfTI's is RAS+: negate x and y.
_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
# Direction cosines are stored as short decimal strings, so exact equality is too strict.
_ORIENTATION_ATOL = 1e-4
_DISTANCE_ATOL_MM = 1e-3
# Positions are rounded in the header too; 1 % jitter is rounding, more is a missing slice.
_SPACING_RTOL = 0.01
_DEFAULT_THICKNESS_MM = 1.0
_NOT_DICOM = (InvalidDicomError, OSError, EOFError)
_AFFINE_NAME = "the affine built from ImageOrientationPatient, PixelSpacing and the positions"


class TooManyVoxelsError(MedicalImageError):
    """A series larger than the caller's voxel limit, told apart so a server can answer 413."""


@dataclass(frozen=True, eq=False)
class _Slice:
    """The geometry of one file, taken from its header alone."""

    path: Path
    row_cosine: NDArray[np.float64]
    column_cosine: NDArray[np.float64]
    position: NDArray[np.float64]
    size: tuple[int, int]
    pixel_spacing: NDArray[np.float64]  # (between rows, between columns), as DICOM orders it
    thickness: float | None
    series: str | None

    @property
    def normal(self) -> NDArray[np.float64]:
        """Slice normal pointing the way the slice index grows in a right-handed volume."""
        return np.cross(self.row_cosine, self.column_cosine)


def read_dicom_series(
    folder: str | os.PathLike[str],
    *,
    max_voxels: int | None = None,
    accept: DicomAcceptance | None = None,
) -> Volume:
    """Read a folder holding exactly one DICOM series of single-frame slices.

    Slices are ordered by position along the slice normal because InstanceNumber and file names
    are not reliable. RescaleSlope/Intercept (or a modality LUT) is applied, so CT comes out in
    Hounsfield units.

    Args:
        folder: The series folder. Hidden files and DICOMDIR are ignored; any other file must
            be an image slice of the series.
        max_voxels: If given, the largest volume (rows x columns x slices) to decode. It is
            checked from the headers alone, so an untrusted upload cannot make the reader
            allocate a huge array (or decompress huge JPEG frames) before being refused.
        accept: If given, the modalities, image types and body parts accepted; every
            file's header is checked against it before any pixel data is decoded.

    Returns:
        A float32 volume indexed (i, j, k) = (along the row direction, along the column
        direction, along the slices), with a RAS+ affine, like nibabel gives for NIfTI.

    Raises:
        MedicalImageError: If the folder is missing or empty, holds a non-DICOM or non-image
            file, mixes series, or the slices do not form a regular 3D grid.
        InvalidHeaderValueError: (a MedicalImageError) If a rescale or Modality LUT value is
            unusable (NaN, Inf, 0 slope, out of range, not a number); InvalidGeometryError
            (a subclass) if PixelSpacing, SliceThickness, ImageOrientationPatient or
            ImagePositionPatient is, or the affine they make is singular or (nearly)
            collinear. All raised before any pixel data is decoded.
        TooManyVoxelsError: (a MedicalImageError) If the series has more than max_voxels
            voxels; raised before any pixel data is decoded.
        InputNotAcceptedError: (a MedicalImageError) If a file's modality, image type or
            body part is not accepted; raised before any pixel data is decoded.
    """
    folder = Path(folder)
    slices = [_read_header(folder, path, accept) for path in _series_files(folder)]
    _require_consistent(folder, slices)
    if max_voxels is not None:
        _require_at_most(folder, slices, max_voxels)
    normal = slices[0].normal
    slices.sort(key=lambda one: float(one.position @ normal))
    step = _slice_step(folder, slices)
    affine = header_checks.affine(folder, _AFFINE_NAME, _affine(slices[0], step))
    array = np.stack([_read_pixels(folder, one).T for one in slices], axis=-1)
    return Volume(array, affine)


def _series_files(folder: Path) -> list[Path]:
    if not folder.exists():
        raise MedicalImageError(folder, "does not exist")
    if not folder.is_dir():
        raise MedicalImageError(folder, "is not a folder")
    files = sorted(
        path
        for path in folder.iterdir()
        if path.is_file() and not path.name.startswith(".") and path.name not in _SKIPPED_NAMES
    )
    if not files:
        raise MedicalImageError(folder, "no DICOM files found")
    return files


def _read_header(folder: Path, path: Path, accept: DicomAcceptance | None = None) -> _Slice:
    try:
        header = pydicom.dcmread(path, stop_before_pixels=True)
    except _NOT_DICOM as exc:
        raise MedicalImageError(folder, f"file {path.name} is not a DICOM file") from exc
    except PYDICOM_ERRORS as exc:
        raise MedicalImageError(
            folder, f"file {path.name} has a DICOM header that cannot be parsed"
        ) from exc
    # Rows/Columns are mandatory for images; the pixel data itself was not read yet.
    if "Rows" not in header or "Columns" not in header:
        raise MedicalImageError(folder, f"file {path.name} has no pixel data (not an image)")
    prefix = f"file {path.name}: "
    frames = _header_int(folder, prefix, header, "NumberOfFrames", default=1)
    if frames != 1 or _header_int(folder, prefix, header, "SamplesPerPixel", default=1) != 1:
        raise MedicalImageError(folder, f"file {path.name} is not a single-frame greyscale slice")
    if accept is not None:
        accept.check(header, str(folder), f"file {path.name}")
    rows = _header_int(folder, prefix, header, "Rows", default=0)
    columns = _header_int(folder, prefix, header, "Columns", default=0)
    if min(rows, columns) < 1:
        raise MedicalImageError(folder, f"file {path.name} is {rows} x {columns} pixels")
    row_cosine, column_cosine = header_checks.direction_cosines(
        folder,
        f"{prefix}ImageOrientationPatient",
        _required(folder, path, header, "ImageOrientationPatient"),
    )
    position = header_checks.position(
        folder,
        f"{prefix}ImagePositionPatient",
        _required(folder, path, header, "ImagePositionPatient"),
    )
    pixel_spacing = header_checks.spacing(
        folder, f"{prefix}PixelSpacing", _required(folder, path, header, "PixelSpacing"), count=2
    )
    check_modality_lut(folder, prefix, header)
    return _Slice(
        path=path,
        row_cosine=row_cosine,
        column_cosine=column_cosine,
        position=position,
        size=(rows, columns),
        pixel_spacing=pixel_spacing,
        thickness=_thickness(folder, prefix, header),
        series=header.get("SeriesInstanceUID"),
    )


def _required(folder: Path, path: Path, header: Dataset, keyword: str) -> object:
    if keyword not in header:
        raise MedicalImageError(folder, f"file {path.name} is missing {keyword}")
    return value_of(folder, f"file {path.name}: ", header, keyword)


def _header_int(folder: Path, prefix: str, header: Dataset, keyword: str, *, default: int) -> int:
    """An integer attribute (Rows, NumberOfFrames), or ``default`` when absent or empty."""
    value = value_of(folder, prefix, header, keyword) if keyword in header else None
    if value in (None, ""):
        return default
    (number,) = header_checks.numbers(
        folder, f"{prefix}{keyword}", value, count=1, expected="one integer"
    )
    if not number.is_integer():
        raise InvalidHeaderValueError(
            folder, f"{prefix}{keyword} is {number:.6g}; expected one integer"
        )
    return int(number)


def _thickness(folder: Path, prefix: str, header: Dataset) -> float | None:
    """SliceThickness, or None when absent or empty (it is Type 2: empty means unknown)."""
    if "SliceThickness" not in header:
        return None
    value = value_of(folder, prefix, header, "SliceThickness")
    if value in (None, ""):
        return None
    (thickness,) = header_checks.spacing(folder, f"{prefix}SliceThickness", value, count=1)
    return float(thickness)


def _require_consistent(folder: Path, slices: list[_Slice]) -> None:
    series = {one.series for one in slices}
    if len(series) > 1:
        raise MedicalImageError(
            folder, f"contains {len(series)} different series; give one series per folder"
        )
    first = slices[0]
    for other in slices[1:]:
        names = f"({first.path.name} vs {other.path.name})"
        same_orientation = np.allclose(
            first.row_cosine, other.row_cosine, rtol=0, atol=_ORIENTATION_ATOL
        ) and np.allclose(first.column_cosine, other.column_cosine, rtol=0, atol=_ORIENTATION_ATOL)
        if not same_orientation:
            raise MedicalImageError(folder, f"slices have different orientations {names}")
        if other.size != first.size:
            raise MedicalImageError(folder, f"slices have different sizes {names}")
        if not np.allclose(
            first.pixel_spacing, other.pixel_spacing, rtol=0, atol=_DISTANCE_ATOL_MM
        ):
            raise MedicalImageError(folder, f"slices have different pixel spacings {names}")


def _require_at_most(folder: Path, slices: list[_Slice], max_voxels: int) -> None:
    rows, columns = slices[0].size  # _require_consistent made every slice the same size
    voxels = rows * columns * len(slices)
    if voxels > max_voxels:
        raise TooManyVoxelsError(folder, f"series has {voxels} voxels; the limit is {max_voxels}")


def _slice_step(folder: Path, slices: list[_Slice]) -> NDArray[np.float64]:
    """Return the vector from one slice to the next, after checking the slices form a grid.

    The step comes from the positions, not the normal, so a gantry tilt becomes a shear in the
    affine instead of being silently dropped.
    """
    first = slices[0]
    if len(slices) == 1:
        return first.normal * (first.thickness or _DEFAULT_THICKNESS_MM)
    gaps = np.diff([float(one.position @ first.normal) for one in slices])
    for index in np.flatnonzero(gaps < _DISTANCE_ATOL_MM):
        names = f"{slices[index].path.name} and {slices[index + 1].path.name}"
        raise MedicalImageError(folder, f"two slices at the same position ({names})")
    if not np.allclose(gaps, gaps.mean(), rtol=_SPACING_RTOL, atol=0):
        raise MedicalImageError(
            folder,
            f"slice spacing is not uniform (min {gaps.min():.4g} mm, max {gaps.max():.4g} mm)",
        )
    step: NDArray[np.float64] = (slices[-1].position - first.position) / (len(slices) - 1)
    return step


def _read_pixels(folder: Path, one: _Slice) -> NDArray[np.float32]:
    """Decode one slice and apply its Modality LUT, whose values _read_header checked."""
    path = one.path
    try:
        dataset = pydicom.dcmread(path)
    except _NOT_DICOM as exc:
        raise MedicalImageError(folder, f"file {path.name} is not a DICOM file") from exc
    except PYDICOM_ERRORS as exc:
        raise MedicalImageError(
            folder, f"file {path.name} has a DICOM header that cannot be parsed"
        ) from exc
    if not any(keyword in dataset for keyword in _PIXEL_KEYWORDS):
        raise MedicalImageError(folder, f"file {path.name} has no pixel data (not an image)")
    try:
        stored: NDArray[Any] = dataset.pixel_array
        pixels: NDArray[Any] = apply_modality_lut(stored, dataset)
    except PYDICOM_ERRORS as exc:
        # pydicom's ways of saying "cannot decode": a missing element, bad length, no plugin.
        raise MedicalImageError(
            folder, f"file {path.name} has pixel data that cannot be decoded ({exc})"
        ) from exc
    if pixels.shape != one.size:
        raise MedicalImageError(
            folder,
            f"file {path.name} has pixel data of shape {pixels.shape}; its header says {one.size}",
        )
    header_checks.finite_pixels(
        folder, f"file {path.name}: pixel values after the Modality LUT", pixels
    )
    return pixels.astype(np.float32)


def _affine(first: _Slice, step: NDArray[np.float64]) -> NDArray[np.float64]:
    """Build the RAS+ affine for array[i, j, k] = pixel_array[j, i] of slice k."""
    between_rows, between_columns = first.pixel_spacing
    lps = np.eye(4)
    lps[:3, 0] = first.row_cosine * between_columns
    lps[:3, 1] = first.column_cosine * between_rows
    lps[:3, 2] = step
    lps[:3, 3] = first.position
    affine: NDArray[np.float64] = _LPS_TO_RAS @ lps
    return affine
