"""Reading one 2D radiograph (DICOM, PNG or JPEG) into display-ready grey levels in [0, 1].

Any 2D classification project (chest X-ray, bone age, ...) needs the same front door: accept
what hospitals and public datasets actually ship, refuse everything else with a one-line
message, and hand the model pixels where 1 always means bright (bone-white), whatever the
file's own convention.

The format is detected from the content (DICOM preamble, PNG signature, JPEG start-of-image),
never from the file name. Everything that can be checked from a header (modality, frames,
photometric interpretation, image size) is checked before a single pixel is decoded, so an
untrusted upload cannot make the reader allocate a huge array or run a decoder on a CT slice.

Messages name the file (or the ``name`` the caller gave bytes) and technical header values
only (Modality, PhotometricInterpretation, Rows, Columns, frame count, transfer syntax):
every other DICOM header value can identify the patient.
"""

from __future__ import annotations

import io
import os
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final, Literal

import numpy as np
import pydicom
from numpy.typing import NDArray
from PIL import Image, UnidentifiedImageError
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixels.processing import apply_modality_lut, apply_voi_lut
from pydicom.uid import UID, ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from medai.io import header_checks
from medai.io.acceptance import DicomAcceptance
from medai.io.dicom_values import (
    PYDICOM_ERRORS,
    check_modality_lut,
    check_voi,
    has_voi_lut,
    has_window,
    value_of,
)
from medai.io.errors import InvalidHeaderValueError, MedicalImageError

__all__ = [
    "RADIOGRAPH_MODALITIES",
    "CorruptImageError",
    "NotARadiographError",
    "Radiograph",
    "RadiographLimits",
    "TooManyPixelsError",
    "UnknownImageFormatError",
    "UnsupportedImageError",
    "read_radiograph",
]

SourceFormat = Literal["dicom", "png", "jpeg", "npz"]

RADIOGRAPH_MODALITIES: Final = ("CR", "DX", "RG")
"""DICOM Modality defined terms (PS3.3 C.7.3.1.1.1) of projection radiographs.

CR is computed radiography (storage-phosphor plates), DX digital radiography (flat-panel
detectors; most chest X-rays today) and RG radiographic imaging from film/screen, which is
what digitised film archives are labelled with. Left out on purpose: MG, IO and PX are
radiographs of other anatomy with their own IODs (mammography, intra-oral, panoramic dental),
and XA/RF are dynamic, usually multi-frame fluoroscopy. "DR" is not a DICOM defined term.
"""

_DICOM_MAGIC: Final = b"DICM"
_DICOM_MAGIC_OFFSET: Final = 128
_PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"
_JPEG_SOI: Final = b"\xff\xd8\xff"
# A dataset written without preamble/meta starts with its lowest tag; for an image that is a
# group 0002 (file meta) or 0008 (identification) element, little- or big-endian.
_PREAMBLELESS_STARTS: Final = (b"\x02\x00", b"\x08\x00", b"\x00\x02", b"\x00\x08")
_HEAD_BYTES: Final = _DICOM_MAGIC_OFFSET + len(_DICOM_MAGIC)
_GRAYSCALE: Final = ("MONOCHROME1", "MONOCHROME2")
_PIXEL_KEYWORDS: Final = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
_PIXEL_SPACING_KEYWORDS: Final = ("PixelSpacing", "ImagerPixelSpacing")
_FULL_LUT_ENTRIES: Final = 2**16  # a LUT Descriptor's first value 0 means 65536 entries
# Probing the window this many widths beyond its centre saturates LINEAR and SIGMOID alike
# (the sigmoid is within e^-400 of its limit) without overflowing exp().
_WINDOW_PROBE_WIDTHS: Final = 100.0
_PILLOW_8BIT_GRAYSCALE: Final = "L"
_PILLOW_MODE_NAMES: Final = {
    "1": "1-bit black and white",
    "P": "P (palette colour)",
    "LA": "LA (grayscale with alpha)",
    "PA": "PA (palette with alpha)",
    "La": "La (grayscale with alpha)",
}
_PILLOW_ERRORS: Final = (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error)


class UnknownImageFormatError(MedicalImageError):
    """Content that is neither DICOM, PNG nor JPEG (a server answers 415)."""


class NotARadiographError(MedicalImageError):
    """A DICOM object that is not a projection radiograph: no image, or another modality."""


class UnsupportedImageError(MedicalImageError):
    """A radiograph in a form this reader refuses: colour, 16-bit PNG, multi-frame, too small."""


class TooManyPixelsError(MedicalImageError):
    """An image larger than the caller's pixel limit, told apart so a server can answer 413."""


class CorruptImageError(MedicalImageError):
    """A header or pixel data that cannot be parsed or decoded (truncated, no decoder)."""


@dataclass(frozen=True, eq=False)
class Radiograph:
    """One 2D radiograph as grey levels a model can use directly.

    Attributes:
        pixels: float32 array (rows, columns) in [0, 1], where 1 is bright (bone-white): the
            MONOCHROME2 convention, after inverting MONOCHROME1 images.
        spacing_mm: (between rows, between columns) in millimetres, from PixelSpacing or else
            ImagerPixelSpacing; None when the file does not say (PNG, JPEG, MedMNIST).
        source_format: What the pixels were read from.
    """

    pixels: NDArray[np.float32]
    spacing_mm: tuple[float, float] | None
    source_format: SourceFormat

    def __post_init__(self) -> None:
        """Keep the invariants every consumer relies on.

        Raises:
            ValueError: If pixels are not a 2D float32 array within [0, 1].
        """
        if self.pixels.ndim != 2 or self.pixels.dtype != np.float32:  # noqa: PLR2004 - 2D
            raise ValueError(
                f"pixels must be a 2D float32 array, got {self.pixels.ndim}D {self.pixels.dtype}"
            )
        if self.pixels.size and not (self.pixels.min() >= 0.0 and self.pixels.max() <= 1.0):
            raise ValueError("pixels must lie within [0, 1]")

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns)."""
        rows, columns = self.pixels.shape
        return int(rows), int(columns)

    @classmethod
    def from_uint8(
        cls, pixels: NDArray[np.uint8], *, source_format: SourceFormat = "npz"
    ) -> Radiograph:
        """Wrap 8-bit grey levels (e.g. one MedMNIST image) without a file round trip.

        Args:
            pixels: uint8 array (rows, columns) where 255 is bright.
            source_format: Where the array came from.

        Returns:
            The radiograph with pixels / 255 and no spacing.

        Raises:
            ValueError: If pixels are not a 2D uint8 array.
        """
        if pixels.ndim != 2 or pixels.dtype != np.uint8:  # noqa: PLR2004 - 2D
            raise ValueError(f"expected a 2D uint8 array, got {pixels.ndim}D {pixels.dtype}")
        scaled = pixels.astype(np.float32) / np.float32(255.0)
        return cls(scaled, None, source_format)


@dataclass(frozen=True)
class RadiographLimits:
    """What a caller accepts, checked from headers before pixel data is decoded.

    Attributes:
        min_size: Fewest pixels on each side; smaller is a thumbnail or an icon, not an image
            a radiologist (or a model) can read.
        max_pixels: Most pixels (rows x columns). 4096 x 4096 covers the largest chest
            detectors (43 x 43 cm at 0.1 mm) and caps one decoded image at 64 MB of float32.
        allowed_modalities: DICOM Modality values accepted; see RADIOGRAPH_MODALITIES.
        refused_image_types: ImageType values that refuse an image (medai.io.acceptance).
        allowed_body_parts: BodyPartExamined values accepted when present; empty: any.
    """

    min_size: int = 32
    max_pixels: int = 4096 * 4096
    allowed_modalities: tuple[str, ...] = RADIOGRAPH_MODALITIES
    refused_image_types: tuple[str, ...] = ("LOCALIZER",)
    allowed_body_parts: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        """Reject limits that no image could satisfy.

        Raises:
            ValueError: If a field is out of range.
        """
        if self.min_size < 1:
            raise ValueError(f"min_size must be >= 1, got {self.min_size}")
        if self.max_pixels < self.min_size**2:
            raise ValueError(
                f"max_pixels must be >= min_size**2 = {self.min_size**2}, got {self.max_pixels}"
            )
        if not self.allowed_modalities:
            raise ValueError("allowed_modalities must name at least one modality")


def read_radiograph(
    source: str | os.PathLike[str] | bytes,
    *,
    name: str | None = None,
    limits: RadiographLimits = RadiographLimits(),
) -> Radiograph:
    """Read one radiograph from a file or from bytes (e.g. an HTTP upload).

    DICOM goes through pydicom's Modality LUT (RescaleSlope/Intercept), then the VOI LUT
    Sequence or, failing that, WindowCenter/WindowWidth (the first of several), each mapped to
    [0, 1] over its own output range; with neither, the image's min-max range is used.
    MONOCHROME1 is then inverted. (Presentation LUT Shape is not applied: the DX IOD ties
    INVERSE to MONOCHROME1 and IDENTITY to MONOCHROME2, so it restates the inversion.)

    PNG and JPEG must be 8-bit grayscale and are taken as already display-ready (255 = bright),
    the way public chest X-ray datasets export them. They carry no spacing.

    Args:
        source: A file path, or the file's bytes.
        name: What messages call the input; defaults to the path, or "<bytes>".
        limits: Size and modality limits, checked before any pixel data is decoded.

    Returns:
        The pixels in [0, 1] (1 = bright), the spacing if known, and the detected format.

    Raises:
        UnknownImageFormatError: Not DICOM, PNG or JPEG (or an empty file).
        NotARadiographError: DICOM without an image (waveform, RT plan, SR) or of a modality
            not in limits.allowed_modalities (a CT slice).
        UnsupportedImageError: Multi-frame, colour, 16-bit PNG, or smaller than limits.min_size.
        TooManyPixelsError: More than limits.max_pixels pixels (from the header).
        CorruptImageError: A header or pixel data that cannot be parsed or decoded.
        MedicalImageError: The path does not exist or is not a file (all of the above are
            subclasses of it, and of ValueError).
    """
    if isinstance(source, bytes):
        label = name or "<bytes>"
        return _read_stream(label, io.BytesIO(source), limits)
    path = Path(source)
    label = name or str(path)
    if not path.exists():
        raise MedicalImageError(label, "does not exist")
    if not path.is_file():
        raise MedicalImageError(label, "is not a file (expected one image file)")
    with path.open("rb") as stream:
        return _read_stream(label, stream, limits)


def _read_stream(label: str, stream: IO[bytes], limits: RadiographLimits) -> Radiograph:
    head = stream.read(_HEAD_BYTES)
    stream.seek(0)
    if not head:
        raise UnknownImageFormatError(label, "is empty")
    if head[_DICOM_MAGIC_OFFSET:_HEAD_BYTES] == _DICOM_MAGIC:
        return _read_dicom(label, stream, limits, has_preamble=True)
    if head.startswith(_PNG_SIGNATURE):
        return _read_pillow(label, stream, "png", limits)
    if head.startswith(_JPEG_SOI):
        return _read_pillow(label, stream, "jpeg", limits)
    if head[:2] in _PREAMBLELESS_STARTS:
        return _read_dicom(label, stream, limits, has_preamble=False)
    raise UnknownImageFormatError(
        label, "is not a DICOM, PNG or JPEG file (its content matches none of their signatures)"
    )


# ---------------------------------------------------------------------------------------------
# DICOM


def _read_dicom(
    label: str, stream: IO[bytes], limits: RadiographLimits, *, has_preamble: bool
) -> Radiograph:
    try:
        header = pydicom.dcmread(stream, stop_before_pixels=True, force=not has_preamble)
    except PYDICOM_ERRORS as exc:
        if has_preamble:
            raise CorruptImageError(label, "has a DICOM header that cannot be parsed") from exc
        raise UnknownImageFormatError(label, "is not a DICOM, PNG or JPEG file") from exc
    _check_dicom_header(label, header, limits)
    spacing = _spacing(label, header)
    stream.seek(0)
    try:
        dataset = pydicom.dcmread(stream, force=not has_preamble)
    except PYDICOM_ERRORS as exc:
        raise CorruptImageError(label, "has DICOM pixel data that cannot be read") from exc
    if not any(keyword in dataset for keyword in _PIXEL_KEYWORDS):
        raise NotARadiographError(label, "has no image (PixelData)")
    if not has_preamble:
        _name_transfer_syntax(dataset)
    return Radiograph(_dicom_pixels(label, dataset), spacing, "dicom")


def _check_dicom_header(label: str, header: Dataset, limits: RadiographLimits) -> None:
    """Refuse from the header alone; stop_before_pixels means PixelData is not in it yet."""
    if "Rows" not in header or "Columns" not in header:
        raise NotARadiographError(label, f"has no image (PixelData){_sop_class_of(header)}")
    allowed = ", ".join(limits.allowed_modalities)
    modality = str(header.get("Modality") or "").strip()
    if not modality:
        raise NotARadiographError(label, f"has no Modality (expected one of {allowed})")
    if modality not in limits.allowed_modalities:
        raise NotARadiographError(
            label, f"Modality {modality[:16]} is not a radiograph (expected one of {allowed})"
        )
    # Modality was checked above with the radiograph wording; image type and body part here.
    DicomAcceptance(
        refused_image_types=limits.refused_image_types, body_parts=limits.allowed_body_parts
    ).check(header, label)
    frames = _header_int(label, header, "NumberOfFrames", default=1)
    if frames != 1:
        raise UnsupportedImageError(label, f"has {frames} frames; expected a single-frame image")
    photometric = str(header.get("PhotometricInterpretation") or "missing").strip()
    if photometric not in _GRAYSCALE:
        raise UnsupportedImageError(
            label, f"expected grayscale MONOCHROME1/MONOCHROME2, got {photometric[:16]}"
        )
    samples = _header_int(label, header, "SamplesPerPixel", default=1)
    if samples != 1:
        raise UnsupportedImageError(
            label, f"expected grayscale (1 sample per pixel), got {samples} samples per pixel"
        )
    rows = _header_int(label, header, "Rows", default=0)
    columns = _header_int(label, header, "Columns", default=0)
    _check_not_too_large(label, rows, columns, limits)
    _check_not_too_small(label, rows, columns, limits)
    _check_bits_stored(label, header)
    check_modality_lut(label, "", header)
    check_voi(label, "", header)


def _check_bits_stored(label: str, header: Dataset) -> None:
    """BitsStored sizes the range a window maps from; more bits than allocated is no image."""
    allocated = _header_int(label, header, "BitsAllocated", default=0)
    stored = _header_int(label, header, "BitsStored", default=allocated)
    if allocated and not 1 <= stored <= allocated:
        raise InvalidHeaderValueError(
            label, f"BitsStored is {stored}; expected 1 to BitsAllocated ({allocated})"
        )


def _sop_class_of(header: Dataset) -> str:
    """Say what the object is instead ("12-lead ECG Waveform Storage"): a technical UID name."""
    uid = header.get("SOPClassUID")
    if not uid:
        return ""
    described = UID(str(uid)).name
    return "" if described == str(uid) else f": its SOP class is {described}"


def _header_int(label: str, header: Dataset, keyword: str, *, default: int) -> int:
    try:
        value = header.get(keyword)
        return default if value in (None, "") else int(value)
    except PYDICOM_ERRORS as exc:
        raise CorruptImageError(label, f"has a malformed {keyword}") from exc


def _check_not_too_large(label: str, rows: int, columns: int, limits: RadiographLimits) -> None:
    if rows * columns > limits.max_pixels:
        raise TooManyPixelsError(
            label,
            f"image has {rows} x {columns} = {rows * columns} pixels; "
            f"the limit is {limits.max_pixels}",
        )


def _check_not_too_small(label: str, rows: int, columns: int, limits: RadiographLimits) -> None:
    if min(rows, columns) < limits.min_size:
        raise UnsupportedImageError(
            label,
            f"image is {rows} x {columns} pixels; expected at least {limits.min_size} on each side",
        )


def _spacing(label: str, header: Dataset) -> tuple[float, float] | None:
    for keyword in _PIXEL_SPACING_KEYWORDS:
        if keyword not in header or header[keyword].VM == 0:
            continue
        value = value_of(label, "", header, keyword)
        between_rows, between_columns = header_checks.spacing(label, keyword, value, count=2)
        return float(between_rows), float(between_columns)
    return None


def _name_transfer_syntax(dataset: Dataset) -> None:
    """Record the encoding pydicom parsed a meta-less dataset with, so it can decode pixels.

    Without file meta there is no Transfer Syntax UID, and pydicom refuses to guess; but
    such a dataset cannot hold compressed (encapsulated) pixel data, so the encoding that
    was read is the whole answer.
    """
    meta = getattr(dataset, "file_meta", None)
    if meta is not None and "TransferSyntaxUID" in meta:
        return
    implicit_vr, little_endian = dataset.original_encoding
    if little_endian is False:
        syntax = ExplicitVRBigEndian
    else:
        syntax = ImplicitVRLittleEndian if implicit_vr else ExplicitVRLittleEndian
    if meta is None:
        meta = FileMetaDataset()
        dataset.file_meta = meta
    meta.TransferSyntaxUID = syntax


def _dicom_pixels(label: str, dataset: Dataset) -> NDArray[np.float32]:
    try:
        stored: NDArray[Any] = dataset.pixel_array
    except PYDICOM_ERRORS as exc:
        raise CorruptImageError(label, _undecodable(dataset)) from exc
    expected = (int(dataset.Rows), int(dataset.Columns))
    if stored.shape != expected:
        raise CorruptImageError(
            label, f"pixel data decodes to shape {stored.shape}, the header says {expected}"
        )
    try:
        modality: NDArray[Any] = apply_modality_lut(stored, dataset)
    except PYDICOM_ERRORS as exc:
        raise CorruptImageError(
            label, "has a malformed Modality LUT (cannot map stored values)"
        ) from exc
    # Float pixel data can hold NaN itself; the header values were checked already.
    header_checks.finite_pixels(label, "pixel values after the Modality LUT", modality)
    try:
        unit = _to_unit_range(modality, dataset)
    except PYDICOM_ERRORS as exc:
        raise CorruptImageError(
            label, "has a malformed VOI LUT or window (cannot map to grey levels)"
        ) from exc
    if not np.isfinite(unit).all():  # the Radiograph invariant, kept a clean refusal
        raise CorruptImageError(label, "pixel values are not finite after the VOI transform")
    if dataset.PhotometricInterpretation == "MONOCHROME1":  # low values are bright
        unit = 1.0 - unit
    return unit.astype(np.float32)


def _undecodable(dataset: Dataset) -> str:
    """Tell a missing decoder apart from truncated data, without the library's long text."""
    syntax = getattr(dataset, "file_meta", Dataset()).get("TransferSyntaxUID")
    if syntax is not None and UID(str(syntax)).is_compressed:
        return (
            f"pixel data in {UID(str(syntax)).name} cannot be decoded "
            "(no decoder installed for it, or the data is corrupt)"
        )
    pixel_bytes = dataset.get("PixelData")
    bits = int(dataset.get("BitsAllocated") or 16)
    needed = int(dataset.Rows) * int(dataset.Columns) * max(bits // 8, 1)
    if isinstance(pixel_bytes, bytes) and len(pixel_bytes) < needed:
        return f"pixel data is truncated (expected {needed} bytes, got {len(pixel_bytes)})"
    return "pixel data cannot be decoded (malformed)"


def _to_unit_range(values: NDArray[Any], dataset: Dataset) -> NDArray[np.float64]:
    """Apply the VOI transform and map its output range onto [0, 1].

    Each VOI transform has its own output range: a window spans the full stored range
    [y_min, y_max] that pydicom derives from BitsStored and the rescale, a VOI LUT spans its
    table's entries. Both are measured by passing probes through the same pydicom call, so
    this never re-implements (and drifts from) pydicom's arithmetic.

    The values were checked (check_voi) before decoding. A SIGMOID window still overflows
    exp() for pixels far from its centre: that is its saturation, so numpy is not asked to
    warn about it.
    """
    if has_voi_lut(dataset):
        descriptor = dataset.VOILUTSequence[0].LUTDescriptor
        entries = int(descriptor[0]) or _FULL_LUT_ENTRIES
        first = int(descriptor[1])
        if not np.issubdtype(values.dtype, np.integer):
            # A LUT indexes integers; pydicom warns on float input. Rescaled values are
            # integral; clipping to one past the table (which pydicom clips to anyway) keeps
            # float pixel data within int64.
            values = np.clip(np.rint(values), first - 1, first + entries).astype(np.int64)
        table = apply_voi_lut(np.arange(first, first + entries, dtype=np.int64), dataset)
        low, high = float(table.min()), float(table.max())
        mapped = apply_voi_lut(values, dataset)
    elif has_window(dataset):
        center, width = _first_value(dataset, "WindowCenter"), _first_value(dataset, "WindowWidth")
        reach = abs(width) * _WINDOW_PROBE_WIDTHS + 1.0
        with np.errstate(over="ignore", under="ignore"):
            probes = apply_voi_lut(np.array([center - reach, center + reach]), dataset)
            mapped = apply_voi_lut(values, dataset)
        low, high = float(probes[0]), float(probes[1])
    else:
        mapped = values
        low, high = float(values.min()), float(values.max())
    if high == low:
        return np.zeros(values.shape, dtype=np.float64)
    unit = (np.asarray(mapped, dtype=np.float64) - low) / (high - low)
    return np.clip(unit, 0.0, 1.0)


def _first_value(dataset: Dataset, keyword: str) -> float:
    element = dataset[keyword]
    return float(element.value[0] if element.VM > 1 else element.value)


# ---------------------------------------------------------------------------------------------
# PNG and JPEG


def _read_pillow(
    label: str, stream: IO[bytes], source_format: Literal["png", "jpeg"], limits: RadiographLimits
) -> Radiograph:
    kind = source_format.upper()
    with _open_lazily(label, stream, kind) as image:
        width, height = image.size
        # Size before mode: refusing a bomb is what protects memory, whatever its mode.
        _check_not_too_large(label, height, width, limits)
        _check_mode(label, image.mode, kind)
        _check_not_too_small(label, height, width, limits)
        try:
            image.load()
            pixels = np.asarray(image, dtype=np.uint8)
        except _PILLOW_ERRORS as exc:
            raise CorruptImageError(label, f"{kind} pixel data cannot be decoded ({exc})") from exc
    return Radiograph.from_uint8(pixels, source_format=source_format)


@contextmanager
def _open_lazily(label: str, stream: IO[bytes], kind: str) -> Iterator[Image.Image]:
    """Parse the header only; Pillow decodes nothing until load().

    Pillow's own decompression-bomb guard (a global limit, far above ours by default) fires
    inside open(): its error, and its warning when warnings are errors, become our error. The
    global Image.MAX_IMAGE_PIXELS is never changed: other threads read it.
    """
    try:
        image = Image.open(stream, formats=[kind])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise TooManyPixelsError(label, f"{kind} header declares too many pixels") from exc
    except (UnidentifiedImageError, *_PILLOW_ERRORS) as exc:
        raise CorruptImageError(label, f"has a {kind} header that cannot be parsed") from exc
    with image:
        yield image


def _check_mode(label: str, mode: str, kind: str) -> None:
    if mode == _PILLOW_8BIT_GRAYSCALE:
        return
    if mode.startswith("I"):
        raise UnsupportedImageError(
            label,
            f"is a 16-bit {kind}, which carries no window/VOI information to map it to grey "
            "levels; convert it to 8-bit grayscale or send the DICOM",
        )
    described = _PILLOW_MODE_NAMES.get(mode, mode)
    raise UnsupportedImageError(label, f"expected an 8-bit grayscale image, got {described}")
