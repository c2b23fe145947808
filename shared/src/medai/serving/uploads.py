"""Turning an untrusted HTTP upload into a validated 3D Volume (or a multi-channel one).

An inference server must not let a client decide how much memory it allocates, where files are
written, or what ends up in error messages and logs. So here:

* the kind of each part is detected from its content (magic bytes), never from its name;
* sizes are checked from headers (NIfTI header, zip central directory, DICOM headers) before any
  pixel data is decoded, and compressed streams are inflated with a hard output cap, so a
  decompression bomb is refused before it allocates;
* DICOM files are written under names chosen here, into a temporary folder that is always
  removed;
* error messages name parts by position ("part 2", "entry 5"): client file names and zip entry
  names can carry patient names, and DICOM header values certainly do.

A multi-channel model (multi-parametric MRI) takes one 4D NIfTI (channels last) or one 3D
NIfTI per channel (``read_channels_upload``): every part's header is checked, and the voxels
and bytes of all channels together are counted against the limits, before any is inflated.

Nothing here imports torch, MONAI or MLflow: the serving image stays small.
"""

from __future__ import annotations

import enum
import io
import math
import re
import struct
import tempfile
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, Final, Literal

import nibabel as nib
import numpy as np
from nibabel.filebasedimages import ImageFileError
from nibabel.spatialimages import HeaderDataError

from medai.io.acceptance import DicomAcceptance, InputNotAcceptedError
from medai.io.channels import (
    ChannelCountError,
    ChannelMismatchError,
    ChannelVolume,
    open_channels,
)
from medai.io.dicom import TooManyVoxelsError, read_dicom_series
from medai.io.errors import MedicalImageError
from medai.io.nifti import nifti_image_to_volume
from medai.io.nifti_header import check_header_bytes
from medai.io.volume import Volume

UploadErrorCode = Literal[
    "payload_too_large",
    "unsupported_media_type",
    "unreadable_image",
    "invalid_dimensions",
    "too_many_voxels",
    "empty_upload",
    "input_not_accepted",
    "channel_mismatch",
]
"""Machine-readable reason of an UploadError; each code has exactly one HTTP status."""

_STATUS: Final[Mapping[UploadErrorCode, int]] = {
    "payload_too_large": 413,
    "too_many_voxels": 413,
    "unsupported_media_type": 415,
    "unreadable_image": 422,
    "invalid_dimensions": 422,
    "empty_upload": 422,
    "input_not_accepted": 422,
    "channel_mismatch": 422,
}

ACCEPTED_FORMATS = (
    "one NIfTI file (.nii or .nii.gz), one .zip of DICOM files, "
    "or the DICOM files of one series (one file per slice)"
)
"""What a client may send, spelled out in every 415 message."""

ACCEPTED_CHANNEL_FORMATS = "one 4D NIfTI file (channels last), or one 3D NIfTI file per channel"
"""What a client may send to a multi-channel model."""

MAX_FILES = 5000
"""Most DICOM files accepted in one request (zip entries or parts): a CT rarely has 2000."""

MAX_ZIP_RATIO = 200
"""Largest uncompressed/compressed size ratio of one zip entry; DICOM compresses far less."""

_GZIP_MAGIC = b"\x1f\x8b"
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # an archive with entries; an empty archive
_ZIP_CENTRAL_ENTRY = b"PK\x01\x02"
_DICOM_MAGIC = b"DICM"
_DICOM_MAGIC_OFFSET = 128
_NIFTI1_SIZE, _NIFTI2_SIZE = 348, 540
_NIFTI2_VERSION = 2
_NIFTI1_MAGICS = {b"n+1\0": True, b"ni1\0": False}  # magic -> image and header in one file
_NIFTI2_MAGICS = {b"n+2\0": True, b"ni2\0": False}
_NIFTI1_MAGIC_OFFSET, _NIFTI2_MAGIC_OFFSET = 344, 4
_NIFTI_EXTENSION_FLAG_BYTES = 4  # between the header and the earliest possible voxel data
_GZIP_WBITS = 16 + zlib.MAX_WBITS  # gzip wrapper, not raw deflate or zlib
_INFLATE_CHUNK_BYTES = 1 << 20
# Writers pad or append a little after the voxels; more than this beyond what the header
# promises is not a NIfTI image but a decompression bomb.
_GZIP_SLACK_BYTES = 64 << 10
_SQUEEZABLE_NDIM = 4
_SERIES_NDIM = 3
_NUMERIC_KINDS = "biuf"  # bool, int, uint, float: what get_fdata can turn into float32
_ZIP_ENCRYPTED_FLAG = 0x1
_SKIPPED_ZIP_PREFIX = "__MACOSX/"
_SKIPPED_ZIP_NAMES = frozenset({"DICOMDIR"})
_OWN_FILE_NAME = re.compile(r"(?:file )?slice_\d{4,}\.dcm")
# What pydicom can raise on hostile bytes besides the InvalidDicomError that medai.io handles.
_DICOM_PARSE_ERRORS = (
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    struct.error,
    OverflowError,
    NotImplementedError,
    EOFError,
    OSError,
)
_NIFTI_PARSE_ERRORS = (
    ImageFileError,
    HeaderDataError,
    ValueError,
    TypeError,
    EOFError,
    OSError,
    zlib.error,
)
_ZIP_READ_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    OSError,
    RuntimeError,  # encrypted entry
    NotImplementedError,  # unsupported compression method
    ValueError,
)


@dataclass(frozen=True)
class UploadLimits:
    """How much one request may make the server read, inflate and allocate.

    Attributes:
        max_bytes: Most bytes per request, counted both as received and after decompression
            (gzip, zip), so a small compressed upload cannot expand past it.
        max_voxels: Most voxels in the volume, checked from headers before decoding pixels.
    """

    max_bytes: int
    max_voxels: int

    def __post_init__(self) -> None:
        """Refuse limits that would refuse everything, so a misconfiguration fails at startup.

        Raises:
            ValueError: If a limit is not a positive integer.
        """
        for name in ("max_bytes", "max_voxels"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"UploadLimits.{name} must be a positive integer, got {value!r}")


class UploadError(Exception):
    """An upload the server refuses, with the HTTP answer to give.

    Attributes:
        status: HTTP status: 413 (too large), 415 (not a supported format) or 422 (unusable).
        code: Machine-readable reason, one of UploadErrorCode.
        message: One line naming what is wrong and where ("part 2"), safe to show the client:
            never a client file name, a DICOM header value or a server path.
    """

    def __init__(self, code: UploadErrorCode, message: str) -> None:
        """Derive the status from the code, so the two can never disagree.

        Args:
            code: The reason.
            message: What is wrong; whitespace runs are collapsed to keep it on one line.
        """
        self.code: UploadErrorCode = code
        self.status = _STATUS[code]
        self.message = " ".join(message.split())
        super().__init__(self.message)

    def __reduce__(self) -> tuple[type[UploadError], tuple[UploadErrorCode, str]]:
        """Rebuild from (code, message) so the error survives pickling to worker processes."""
        return type(self), (self.code, self.message)


@dataclass(frozen=True)
class UploadPart:
    """One file of a multipart request, as the web framework hands it over.

    Attributes:
        filename: The client's name for the file. Not used to decide anything (content does),
            never used as a path and never put in a message: names can identify the patient.
        data: The file's bytes, already capped at the request limit by the server.
    """

    filename: str | None
    data: bytes


class _Kind(enum.Enum):
    """What a part is, as its first bytes say; the value is how messages call it."""

    NIFTI = "a NIfTI file"
    ZIP = "a zip archive"
    DICOM = "a DICOM file"


@dataclass(frozen=True)
class _Part:
    """A part whose kind is known, with the bytes needed to read its header."""

    position: int  # 1-based, as clients count
    data: bytes
    kind: _Kind
    head: bytes = b""  # NIfTI: the first (decompressed) bytes, enough for either header
    nifti_version: int = 0  # NIfTI: 1 or 2
    gzipped: bool = False
    name: str | None = None  # how messages name it instead of its position ("part 't1'")

    @property
    def label(self) -> str:
        """How messages name this part."""
        return self.name or f"part {self.position}"


@dataclass(frozen=True)
class _NiftiHeader:
    """What the size checks need from a NIfTI header, typed (nibabel's accessors are not)."""

    version: int
    size: int  # bytes of the fixed header: 348 or 540
    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    offset: int  # where the voxels start


@dataclass(frozen=True)
class _Inflated:
    """Result of a capped gunzip."""

    data: bytes  # at most limit + 1 bytes
    exceeded: bool  # the stream holds more than the limit; data is cut
    complete: bool  # the stream ended with its end marker (else it is truncated)


def read_volume_upload(
    parts: Sequence[UploadPart], limits: UploadLimits, accept: DicomAcceptance | None = None
) -> Volume:
    """Read the image a client uploaded: one NIfTI, one zip of DICOM files, or DICOM files.

    Every check that can be made from headers is made before pixel data is decoded or
    decompressed, so the cost of a hostile request is bounded by the limits, not by what the
    client claims.

    Args:
        parts: The files of the request, in the order the client sent them.
        limits: The request and volume size limits.
        accept: The DICOM modalities, image types and body parts the project accepts,
            checked from every file's header before pixel data is decoded. NIfTI carries
            no modality and is not checked against it.

    Returns:
        The 3D float32 volume with its RAS+ affine, exactly as medai.io.read_nifti or
        medai.io.read_dicom_series give for the same data on disk.

    Raises:
        UploadError: If the upload is empty, too large, of an unsupported or mixed kind, or
            not a readable 3D image; its status and code say which.
    """
    _require_sized(parts, limits)
    classified = [_classify(position, part.data) for position, part in enumerate(parts, 1)]
    kind = _single_kind(classified)
    if kind is _Kind.NIFTI:
        return _read_nifti(classified[0], limits)
    if kind is _Kind.ZIP:
        return _read_dicom_zip(classified[0], limits, accept)
    return _read_dicom_parts(classified, limits, accept)


def read_channels_upload(
    parts: Sequence[UploadPart],
    channels: Sequence[str],
    limits: UploadLimits,
    *,
    names: Sequence[str] | None = None,
) -> ChannelVolume:
    """Read the multi-channel image a client uploaded: one 4D NIfTI or one 3D NIfTI a channel.

    Every part's header is read and checked first; the voxels and image bytes of all
    channels together are compared with the limits before any part is inflated or decoded.

    Args:
        parts: One part holding every channel on its 4th axis, or one 3D part per channel
            in ``channels`` order.
        channels: The channel names the model takes, in order.
        limits: The request and volume size limits, for all channels together.
        names: How messages name each part (``"part 't1'"``); None: by position.

    Returns:
        The ``(C, X, Y, Z)`` float32 volume with the names ``channels``.

    Raises:
        UploadError: If the upload is empty, too large, not NIfTI, holds another number of
            channels (``invalid_dimensions``) or channels of different shapes or affines
            (``channel_mismatch``), or is not readable; its status and code say which.
    """
    _require_sized(parts, limits)
    if len(parts) not in {1, len(channels)}:
        raise UploadError(
            "invalid_dimensions",
            f"the upload has {len(parts)} parts; this model takes "
            f"{_channels_text(channels)}: send {ACCEPTED_CHANNEL_FORMATS}",
        )
    labels: Sequence[str | None] = names if names is not None else [None] * len(parts)
    classified = [
        _classify(position, part.data, name)
        for position, (part, name) in enumerate(zip(parts, labels, strict=True), 1)
    ]
    for part in classified:
        if part.kind is not _Kind.NIFTI:
            raise UploadError(
                "unsupported_media_type",
                f"{part.label} is {part.kind.value}; this model takes "
                f"{_channels_text(channels)}: send {ACCEPTED_CHANNEL_FORMATS}",
            )
    in_one_file = channels if len(classified) == 1 else ()
    headers = [_nifti_header(part, part.nifti_version) for part in classified]
    sizes = [
        _nifti_expected_bytes(part, header, limits, in_one_file)
        for part, header in zip(classified, headers, strict=True)
    ]
    _require_channels_fit(headers, sizes, limits)
    images = [
        (part.label, _open_nifti(part, header, size, limits))
        for part, header, size in zip(classified, headers, sizes, strict=True)
    ]
    try:
        return open_channels(images, channels).decode()
    except ChannelCountError as exc:
        raise UploadError("invalid_dimensions", str(exc)) from exc
    except ChannelMismatchError as exc:
        raise UploadError("channel_mismatch", str(exc)) from exc
    except MedicalImageError as exc:
        raise UploadError("unreadable_image", str(exc)) from exc


def _channels_text(channels: Sequence[str]) -> str:
    """``4 channels (t1, t1c, t2, flair)``: what a multi-channel model takes."""
    return f"{len(channels)} channels ({', '.join(channels)})"


def _require_channels_fit(
    headers: Sequence[_NiftiHeader], sizes: Sequence[int], limits: UploadLimits
) -> None:
    """Refuse channels that fit the limits one by one but not together."""
    voxels = sum(math.prod(header.shape) for header in headers)
    if voxels > limits.max_voxels:
        raise UploadError(
            "too_many_voxels",
            f"the upload's channels have {voxels} voxels in all; the limit is {limits.max_voxels}",
        )
    if sum(sizes) > limits.max_bytes:
        raise UploadError(
            "payload_too_large",
            f"the upload's channels hold {sum(sizes)} bytes of image in all; "
            f"the limit is {limits.max_bytes}",
        )


# --- Request-level checks -------------------------------------------------------------------


def _require_sized(parts: Sequence[UploadPart], limits: UploadLimits) -> None:
    if not parts:
        raise UploadError("empty_upload", "the upload has no files")
    for position, part in enumerate(parts, 1):
        if not part.data:
            raise UploadError("empty_upload", f"part {position} is empty")
    if len(parts) > MAX_FILES:
        raise UploadError(
            "payload_too_large", f"the upload has {len(parts)} files; the limit is {MAX_FILES}"
        )
    total = sum(len(part.data) for part in parts)
    if total > limits.max_bytes:
        raise UploadError(
            "payload_too_large",
            f"the upload is {total} bytes; the limit is {limits.max_bytes}",
        )


def _classify(position: int, data: bytes, name: str | None = None) -> _Part:
    """Tell the kind of a part from its first bytes; the file name is not consulted."""
    label = name or f"part {position}"
    if data.startswith(_GZIP_MAGIC):
        peek = _gunzip(label, data, _NIFTI2_SIZE)
        head = peek.data[:_NIFTI2_SIZE]
        version = _nifti_version(head)
        if version is None and not (peek.exceeded or peek.complete):
            raise UploadError(
                "unreadable_image", f"{label} is truncated: the gzip stream ends early"
            )
        if version is None:
            raise _unsupported(f"{label} is gzip-compressed but holds no NIfTI image")
        return _Part(position, data, _Kind.NIFTI, head, version, gzipped=True, name=name)
    version = _nifti_version(data)
    if version is not None:
        return _Part(position, data, _Kind.NIFTI, data[:_NIFTI2_SIZE], version, name=name)
    if data.startswith(_ZIP_MAGICS):
        return _Part(position, data, _Kind.ZIP, name=name)
    if data[_DICOM_MAGIC_OFFSET : _DICOM_MAGIC_OFFSET + len(_DICOM_MAGIC)] == _DICOM_MAGIC:
        return _Part(position, data, _Kind.DICOM, name=name)
    raise _unsupported(f"{label} is not a supported image")


def _unsupported(what: str) -> UploadError:
    return UploadError("unsupported_media_type", f"{what}; send {ACCEPTED_FORMATS}")


def _single_kind(parts: Sequence[_Part]) -> _Kind:
    """Return the one kind all parts share; only DICOM slices may come as several parts."""
    first = parts[0]
    for other in parts[1:]:
        if other.kind is not first.kind:
            raise UploadError(
                "unreadable_image",
                f"{first.label} is {first.kind.value} but {other.label} is {other.kind.value}; "
                f"send {ACCEPTED_FORMATS}",
            )
    if first.kind is not _Kind.DICOM and len(parts) > 1:
        raise UploadError(
            "unreadable_image",
            f"the upload has {len(parts)} parts that are each {first.kind.value}; send one",
        )
    return first.kind


# --- NIfTI ----------------------------------------------------------------------------------


def _nifti_version(head: bytes) -> int | None:
    """Return 1 or 2 if the bytes start with a NIfTI header of that version (any endianness)."""
    if _sizeof_hdr_is(head, _NIFTI1_SIZE) and _magic(head, _NIFTI1_MAGIC_OFFSET) in _NIFTI1_MAGICS:
        return 1
    if _sizeof_hdr_is(head, _NIFTI2_SIZE) and _magic(head, _NIFTI2_MAGIC_OFFSET) in _NIFTI2_MAGICS:
        return 2
    return None


def _sizeof_hdr_is(head: bytes, size: int) -> bool:
    if len(head) < size:
        return False
    first = head[:4]
    return size in {int.from_bytes(first, "little"), int.from_bytes(first, "big")}


def _magic(head: bytes, offset: int) -> bytes:
    return head[offset : offset + 4]


def _read_nifti(part: _Part, limits: UploadLimits) -> Volume:
    """Check the header against the limits, then inflate (capped) and decode in memory."""
    header = _nifti_header(part, part.nifti_version)
    image = _open_nifti(part, header, _nifti_expected_bytes(part, header, limits), limits)
    try:
        return nifti_image_to_volume(part.label, image)
    except MedicalImageError as exc:
        raise UploadError("unreadable_image", f"{part.label}: {exc.reason}") from exc


def _open_nifti(
    part: _Part, header: _NiftiHeader, expected: int, limits: UploadLimits
) -> nib.Nifti1Image:
    """Check the raw header, inflate (capped at ``expected``) and open; decode no voxel."""
    try:
        # Raw, before nibabel repairs a zero or negative pixdim while parsing it.
        check_header_bytes(part.label, part.head)
    except MedicalImageError as exc:
        raise UploadError("unreadable_image", f"{part.label}: {exc.reason}") from exc
    raw = _inflate_nifti(part, expected, limits) if part.gzipped else part.data
    if len(raw) < expected:
        raise UploadError(
            "unreadable_image",
            f"{part.label} is truncated: the header promises {expected} bytes, "
            f"there are {len(raw)}",
        )
    image_class = nib.Nifti2Image if header.version == _NIFTI2_VERSION else nib.Nifti1Image
    try:
        image: nib.Nifti1Image = image_class.from_bytes(raw)
    except _NIFTI_PARSE_ERRORS as exc:
        raise UploadError(
            "unreadable_image", f"{part.label} is not a readable NIfTI image"
        ) from exc
    return image


def _nifti_header(part: _Part, version: int) -> _NiftiHeader:
    """Parse the fixed-size header alone (no extensions): all the size checks need."""
    header_class = nib.Nifti2Header if version == _NIFTI2_VERSION else nib.Nifti1Header
    magics = _NIFTI2_MAGICS if version == _NIFTI2_VERSION else _NIFTI1_MAGICS
    magic_offset = _NIFTI2_MAGIC_OFFSET if version == _NIFTI2_VERSION else _NIFTI1_MAGIC_OFFSET
    if not magics[_magic(part.head, magic_offset)]:
        raise UploadError(
            "unreadable_image",
            f"{part.label} is a NIfTI header without its voxels (a .hdr/.img pair); "
            "send a single .nii or .nii.gz file",
        )
    size: int = header_class.sizeof_hdr
    try:
        # nibabel leaves from_fileobj unannotated, hence the no-untyped-call ignore.
        header = header_class.from_fileobj(io.BytesIO(part.head[:size]))  # type: ignore[no-untyped-call]
        shape = tuple(int(length) for length in header.get_data_shape())
        dtype: np.dtype[Any] = header.get_data_dtype()
        offset = int(header.get_data_offset())
    except _NIFTI_PARSE_ERRORS as exc:
        raise UploadError(
            "unreadable_image", f"{part.label} has an invalid NIfTI header ({exc})"
        ) from exc
    return _NiftiHeader(version=version, size=size, shape=shape, dtype=dtype, offset=offset)


def _nifti_expected_bytes(
    part: _Part, header: _NiftiHeader, limits: UploadLimits, channels: Sequence[str] = ()
) -> int:
    """Check shape, voxel count, voxel type and size from the header; return the file size.

    ``channels``: the names of the channels the part must hold on its 4th axis (a
    multi-channel image in one file); empty for a 3D volume (a 4D image with a last axis
    of 1 is one too).
    """
    shape = header.shape
    if min(shape, default=0) < 1 or len(shape) not in {_SERIES_NDIM, _SQUEEZABLE_NDIM}:
        raise UploadError(
            "invalid_dimensions",
            f"{part.label} has shape {shape}; expected a 3D volume "
            "(a 4D image with a last axis of size 1 is accepted)"
            if not channels
            else f"{part.label} has shape {shape}; expected a 4D image with "
            f"{_channels_text(channels)} on its last axis",
        )
    held = shape[-1] if len(shape) == _SQUEEZABLE_NDIM else 1
    if held != max(len(channels), 1):
        what = f"{held} channels on its 4th axis" if held > 1 else "one channel"
        wanted = _channels_text(channels) if channels else "one channel, a 3D volume"
        raise UploadError(
            "invalid_dimensions",
            f"{part.label} has shape {shape}: {what}; this model takes {wanted}",
        )
    voxels = math.prod(shape)
    if voxels > limits.max_voxels:
        raise UploadError(
            "too_many_voxels",
            f"{part.label} has {voxels} voxels; the limit is {limits.max_voxels}",
        )
    if header.dtype.kind not in _NUMERIC_KINDS:
        raise UploadError(
            "unreadable_image",
            f"{part.label} has voxels of type {header.dtype}, not plain numbers",
        )
    if header.offset < header.size + _NIFTI_EXTENSION_FLAG_BYTES:
        # nibabel would read the header itself as voxels.
        raise UploadError(
            "unreadable_image", f"{part.label} has a NIfTI header whose voxels overlap it"
        )
    expected = header.offset + voxels * header.dtype.itemsize
    if expected > limits.max_bytes:
        raise UploadError(
            "payload_too_large",
            f"{part.label} holds {expected} bytes of image; the limit is {limits.max_bytes}",
        )
    return expected


def _inflate_nifti(part: _Part, expected: int, limits: UploadLimits) -> bytes:
    """Gunzip no more than the header promises (plus slack) and never more than the limit."""
    cap = min(limits.max_bytes, expected + _GZIP_SLACK_BYTES)
    inflated = _gunzip(part.label, part.data, cap)
    if inflated.exceeded:
        raise UploadError(
            "payload_too_large",
            f"{part.label} decompresses to more than {cap} bytes, "
            f"but its header promises {expected}",
        )
    if not inflated.complete:
        raise UploadError(
            "unreadable_image", f"{part.label} is truncated: the gzip stream ends early"
        )
    return inflated.data


def _gunzip(label: str, data: bytes, limit: int) -> _Inflated:
    """Inflate gzip data, stopping as soon as the output passes limit bytes.

    Input is fed in chunks and every call is capped with max_length, so at most limit + 1
    bytes are ever allocated whatever the stream claims. Concatenated gzip members (as bgzip
    writes) are followed; anything after the last member that is not gzip is ignored.

    Raises:
        UploadError: If the bytes are not valid gzip.
    """
    output = bytearray()
    decompressor = zlib.decompressobj(_GZIP_WBITS)
    offset = 0  # end of the input fed so far
    pending: bytes = b""
    try:
        while True:
            if not pending:
                if offset >= len(data):
                    return _Inflated(bytes(output), exceeded=False, complete=False)
                pending = data[offset : offset + _INFLATE_CHUNK_BYTES]
                offset += len(pending)
            output += decompressor.decompress(pending, limit + 1 - len(output))
            if len(output) > limit:
                return _Inflated(bytes(output), exceeded=True, complete=False)
            pending = decompressor.unconsumed_tail
            if decompressor.eof:
                offset -= len(decompressor.unused_data)  # where the next member would start
                if not data.startswith(_GZIP_MAGIC, offset):
                    return _Inflated(bytes(output), exceeded=False, complete=True)
                decompressor = zlib.decompressobj(_GZIP_WBITS)
                pending = b""
    except zlib.error as exc:
        raise UploadError("unreadable_image", f"{label} is not valid gzip data") from exc


# --- DICOM ----------------------------------------------------------------------------------


def _read_dicom_zip(part: _Part, limits: UploadLimits, accept: DicomAcceptance | None) -> Volume:
    """Check the central directory, extract under own names to a temp folder, read the series."""
    with _open_zip(part) as archive:
        entries = _zip_entries(archive, limits)
        with tempfile.TemporaryDirectory(prefix="medai-upload-") as scratch:
            folder = Path(scratch)
            labels: dict[str, str] = {}
            for number, info in entries:
                name = _slice_name(len(labels))
                (folder / name).write_bytes(_read_zip_entry(archive, number, info))
                labels[name] = f"entry {number}"
            return _read_series(folder, labels, limits, accept)


def _read_dicom_parts(
    parts: Sequence[_Part], limits: UploadLimits, accept: DicomAcceptance | None
) -> Volume:
    """Write the parts under own names to a temp folder and read them as one series."""
    with tempfile.TemporaryDirectory(prefix="medai-upload-") as scratch:
        folder = Path(scratch)
        labels: dict[str, str] = {}
        for index, part in enumerate(parts):
            name = _slice_name(index)
            (folder / name).write_bytes(part.data)
            labels[name] = part.label
        return _read_series(folder, labels, limits, accept)


def _slice_name(index: int) -> str:
    # Never a client name: those can be absolute, contain '..', or name the patient.
    return f"slice_{index:04d}.dcm"


def _open_zip(part: _Part) -> zipfile.ZipFile:
    # zipfile builds one object per central-directory record before we can count them; every
    # record starts with this signature, so counting it first bounds that work.
    records = part.data.count(_ZIP_CENTRAL_ENTRY)
    if records > MAX_FILES:
        raise UploadError(
            "payload_too_large",
            f"{part.label} is a zip archive of more than {MAX_FILES} entries; "
            f"the limit is {MAX_FILES}",
        )
    try:
        return zipfile.ZipFile(io.BytesIO(part.data))
    except _ZIP_READ_ERRORS as exc:
        raise UploadError(
            "unreadable_image", f"{part.label} is not a readable zip archive"
        ) from exc


def _zip_entries(
    archive: zipfile.ZipFile, limits: UploadLimits
) -> list[tuple[int, zipfile.ZipInfo]]:
    """Return the (1-based number, info) of the entries to extract, after the safety checks."""
    infos = archive.infolist()
    if len(infos) > MAX_FILES:
        raise UploadError(
            "payload_too_large",
            f"the zip archive has {len(infos)} entries; the limit is {MAX_FILES}",
        )
    selected: list[tuple[int, zipfile.ZipInfo]] = []
    for number, info in enumerate(infos, 1):
        _require_safe_entry(number, info)
        if not _is_skipped(info.filename) and not info.is_dir():
            selected.append((number, info))
    total = sum(info.file_size for _, info in selected)
    if total > limits.max_bytes:
        raise UploadError(
            "payload_too_large",
            f"the zip archive expands to {total} bytes; the limit is {limits.max_bytes}",
        )
    if not selected:
        raise UploadError(
            "empty_upload", "the zip archive holds no files (folders and hidden files are skipped)"
        )
    return selected


def _require_safe_entry(number: int, info: zipfile.ZipInfo) -> None:
    if _is_unsafe_path(info.filename):
        raise UploadError(
            "unreadable_image",
            f"entry {number} of the zip archive has an absolute path or '..'; refused",
        )
    if info.file_size > MAX_ZIP_RATIO * max(info.compress_size, 1):
        raise UploadError(
            "payload_too_large",
            f"entry {number} of the zip archive expands more than {MAX_ZIP_RATIO}-fold "
            "(a zip bomb?)",
        )
    if info.flag_bits & _ZIP_ENCRYPTED_FLAG:
        raise UploadError("unreadable_image", f"entry {number} of the zip archive is encrypted")


def _is_unsafe_path(name: str) -> bool:
    windows = PureWindowsPath(name)
    if name.startswith(("/", "\\")) or windows.drive or windows.is_absolute():
        return True
    return ".." in PurePosixPath(name.replace("\\", "/")).parts


def _is_skipped(name: str) -> bool:
    """Folders' clutter (macOS resource forks, dot files) and DICOMDIR indexes are no slices."""
    if name.startswith(_SKIPPED_ZIP_PREFIX):
        return True
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if not parts or parts[-1] in _SKIPPED_ZIP_NAMES:
        return True
    return any(component.startswith(".") for component in parts)


def _read_zip_entry(archive: zipfile.ZipFile, number: int, info: zipfile.ZipInfo) -> bytes:
    """Read one entry, never more than its declared size (zipfile then checks the CRC)."""
    try:
        with archive.open(info) as member:
            data = member.read(info.file_size + 1)
    except _ZIP_READ_ERRORS as exc:
        raise UploadError(
            "unreadable_image", f"entry {number} of the zip archive is damaged"
        ) from exc
    if len(data) > info.file_size:
        raise UploadError(
            "payload_too_large",
            f"entry {number} of the zip archive is larger than its directory says",
        )
    return data


def _read_series(
    folder: Path,
    labels: Mapping[str, str],
    limits: UploadLimits,
    accept: DicomAcceptance | None,
) -> Volume:
    """Read the temp folder as one series, with messages that name parts, not temp files."""
    try:
        return read_dicom_series(folder, max_voxels=limits.max_voxels, accept=accept)
    except TooManyVoxelsError as exc:
        raise UploadError("too_many_voxels", f"the uploaded DICOM {exc.reason}") from exc
    except InputNotAcceptedError as exc:
        reason = _scrub(exc.reason, folder, labels)
        raise UploadError("input_not_accepted", f"DICOM upload: {reason}") from exc
    except MedicalImageError as exc:
        reason = _scrub(exc.reason, folder, labels)
        raise UploadError("unreadable_image", f"DICOM upload: {reason}") from exc
    except _DICOM_PARSE_ERRORS as exc:
        raise UploadError(
            "unreadable_image", "DICOM upload: a file could not be parsed as DICOM"
        ) from exc


def _scrub(reason: str, folder: Path, labels: Mapping[str, str]) -> str:
    """Replace temp file names by the part or entry they came from, and drop the temp path."""
    reason = reason.replace(str(folder), "the upload")
    return _OWN_FILE_NAME.sub(lambda match: _label_of(match.group(0), labels), reason)


def _label_of(mention: str, labels: Mapping[str, str]) -> str:
    return labels.get(mention.removeprefix("file "), "a file")
