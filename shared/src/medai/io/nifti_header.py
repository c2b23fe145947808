"""The geometry and scaling fields of a NIfTI header, checked as the file states them.

nibabel repairs some fields while it parses a header (a zero pixdim becomes 1, a negative
one its absolute value, an unknown xform code 0), saying so only in a log line, and builds
the affine from the others without checking them: a NaN quaternion becomes a NaN affine, a
too-long one a ValueError. Another tool reading the same file repairs differently or not at
all, so a reader that trusted nibabel's view would answer for another image than the one it
was sent. So the raw header is checked here, by medai.io.header_checks' rules, before
nibabel builds the image; and an image already built is checked by the same rules.

Every transform the header declares (qform_code or sform_code > 0) must be valid, not only
the one nibabel prefers: tools disagree on which of the two they trust.
"""

from __future__ import annotations

import io
import math
from typing import Final

import nibabel as nib
import numpy as np
from nibabel.quaternions import quat2mat
from nibabel.spatialimages import HeaderDataError
from numpy.typing import NDArray

from medai.io import header_checks
from medai.io.errors import InvalidGeometryError, InvalidHeaderValueError

HEADER_BYTES: Final = 540
"""Bytes that hold either header: NIfTI-1's is 348, NIfTI-2's 540."""

_HEADER_CLASSES: Final = (nib.Nifti1Header, nib.Nifti2Header)
_XFORM_CODES: Final = tuple(int(code) for code in nib.nifti1.xform_codes.value_set())
_VOLUME_DIMS: Final = (3, 4)  # 3D, or 4D: a last axis of 1, or channels (medai.io.channels)
_QFACS: Final = (-1.0, 0.0, 1.0)  # 0 is not in the standard; nibabel and ITK read it as 1
# nibabel's tolerance for b^2 + c^2 + d^2 above 1: float32 rounding of a unit quaternion.
_QUATERNION_SLACK: Final = 3 * float(np.finfo(np.float32).eps)


def header_of_bytes(head: bytes) -> nib.Nifti1Header | None:
    """Parse the fixed-size header from a file's first bytes, without nibabel's repairs.

    Args:
        head: At least the header's bytes (HEADER_BYTES covers both versions), decompressed.

    Returns:
        The NIfTI-1 or NIfTI-2 header (either endianness), or None when the bytes do not
        start with one; nibabel then says what the file is when it tries to load it.
    """
    for header_class in _HEADER_CLASSES:
        size = int(header_class.sizeof_hdr)
        first = head[:4]
        if len(head) < size or size not in {
            int.from_bytes(first, "little"),
            int.from_bytes(first, "big"),
        }:
            continue
        try:
            # nibabel leaves from_fileobj unannotated, hence the no-untyped-call ignore.
            header: nib.Nifti1Header = header_class.from_fileobj(  # type: ignore[no-untyped-call]
                io.BytesIO(head[:size]), check=False
            )
        except (HeaderDataError, ValueError):
            return None
        return header
    return None


def check_header_bytes(source: header_checks.Source, head: bytes) -> None:
    """Check the header at the start of ``head`` (if it is one) by check_header's rules.

    Args:
        source: Names the file in the error.
        head: The file's first (decompressed) bytes.

    Raises:
        InvalidHeaderValueError: See check_header.
    """
    header = header_of_bytes(head)
    if header is not None:
        check_header(source, header)


def check_header(source: header_checks.Source, header: nib.Nifti1Header) -> None:
    """Check the fields a volume's geometry and values come from.

    Headers of images that are not volumes (2D, 5D) are left to the shape check, which
    gives the clearer message.

    Args:
        source: Names the file in the error.
        header: A NIfTI-1 or NIfTI-2 header, raw or as nibabel repaired it.

    Raises:
        InvalidGeometryError: If an xform code is unknown, pixdim[1:4] is not three valid
            voxel sizes, or a declared qform or sform is not a valid affine.
        InvalidHeaderValueError: If scl_slope is infinite, or scl_inter is not finite while
            scl_slope scales the voxels.
    """
    if int(header["dim"][0]) not in _VOLUME_DIMS:
        return
    for field in ("qform_code", "sform_code"):
        code = int(header[field])
        if code not in _XFORM_CODES:
            known = ", ".join(str(value) for value in _XFORM_CODES)
            raise InvalidGeometryError(source, f"{field} is {code}; expected one of {known}")
    zooms = header_checks.spacing(source, "pixdim[1:4]", header["pixdim"][1:4], count=3)
    _check_scaling(source, header)
    if int(header["qform_code"]):
        header_checks.affine(source, "qform", _qform(source, header, zooms))
    if int(header["sform_code"]):
        sform = np.eye(4)
        sform[:3] = [header["srow_x"], header["srow_y"], header["srow_z"]]
        header_checks.affine(source, "sform", sform)


def affine_name(header: nib.Nifti1Header) -> str:
    """Which transform nibabel's ``image.affine`` comes from, for messages about it."""
    if int(header["sform_code"]):
        return "sform"
    if int(header["qform_code"]):
        return "qform"
    return "affine (from pixdim, no qform or sform)"


def _check_scaling(source: header_checks.Source, header: nib.Nifti1Header) -> None:
    """scl_slope 0 (the standard) or NaN (nibabel) means no scaling; Inf means nothing."""
    slope, intercept = float(header["scl_slope"]), float(header["scl_inter"])
    if math.isinf(slope):
        raise InvalidHeaderValueError(
            source, f"scl_slope is {slope:g}; expected a finite number (0 or NaN: no scaling)"
        )
    if slope and math.isfinite(slope) and not math.isfinite(intercept):
        raise InvalidHeaderValueError(
            source,
            f"scl_inter is {intercept:g}; expected a finite number, since scl_slope "
            f"{slope:.6g} scales the voxels",
        )


def _qform(
    source: header_checks.Source, header: nib.Nifti1Header, zooms: NDArray[np.float64]
) -> NDArray[np.float64]:
    """The qform matrix, computed after checking the fields nibabel would not."""
    qfac = float(header["pixdim"][0])
    if qfac not in _QFACS:
        raise InvalidGeometryError(
            source, f"qfac (pixdim[0]) is {qfac:.6g}; expected 1 or -1 (0 is read as 1)"
        )
    fields = [float(header[name]) for name in ("quatern_b", "quatern_c", "quatern_d")]
    offsets = [float(header[name]) for name in ("qoffset_x", "qoffset_y", "qoffset_z")]
    for word, test in (("NaN", math.isnan), ("Inf", math.isinf)):
        if any(test(value) for value in fields + offsets):
            raise InvalidGeometryError(source, f"qform holds {word}")
    squared = sum(value * value for value in fields)
    if squared > 1.0 + _QUATERNION_SLACK:
        raise InvalidGeometryError(
            source,
            f"qform quaternion (quatern_b, quatern_c, quatern_d) is "
            f"[{', '.join(f'{value:.6g}' for value in fields)}]; expected b^2 + c^2 + d^2 <= 1",
        )
    scale = zooms.copy()
    scale[2] *= -1.0 if qfac == -1.0 else 1.0
    # nibabel leaves quat2mat unannotated, hence the no-untyped-call ignore.
    rotation: NDArray[np.float64] = quat2mat(  # type: ignore[no-untyped-call]
        [math.sqrt(max(0.0, 1.0 - squared)), *fields]
    )
    qform = np.eye(4)
    qform[:3, :3] = rotation * scale
    qform[:3, 3] = offsets
    return qform
