"""NIfTI reading and writing, plus the by-path dispatch that command-line tools use."""

from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
from nibabel.filebasedimages import ImageFileError
from nibabel.spatialimages import HeaderDataError
from numpy.typing import DTypeLike, NDArray

from medai.io import header_checks, nifti_header
from medai.io.acceptance import DicomAcceptance
from medai.io.dicom import read_dicom_series
from medai.io.errors import MedicalImageError
from medai.io.volume import Volume

NIFTI_SUFFIXES = (".nii", ".nii.gz")
"""File name endings read and written as NIfTI (matched case-insensitively)."""

# NIFTI_XFORM_SCANNER_ANAT: the affine is the scanner's patient space, which is what DICOM and
# our models give us. Tools disagree on whether they trust qform or sform, so both get it.
_XFORM_CODE = 1
_NDIM = 3
_NDIM_SQUEEZABLE = 4  # (x, y, z, 1), as some tools write single-volume series
_GZIP_MAGIC = b"\x1f\x8b"


def read_nifti(
    path: str | os.PathLike[str], *, dtype: type[np.floating[Any]] = np.float32
) -> Volume:
    """Read a 3D NIfTI image (.nii or .nii.gz) with its affine.

    Scaling (scl_slope/scl_inter) is applied, so the array holds the real values (e.g. HU).
    The header's geometry and scaling are checked as the file states them (see
    medai.io.nifti_header) before nibabel loads it. Data are loaded eagerly: nibabel is
    lazy, and a truncated file would otherwise only fail later, far from the file name.

    Args:
        path: The NIfTI file.
        dtype: Floating type of the returned array; float32 halves memory versus float64.

    Returns:
        The volume; a 4D image whose last axis has size 1 is squeezed to 3D.

    Raises:
        MedicalImageError: If the file is missing, not NIfTI, truncated, not 3D, or holds NaN
            or infinite voxels.
        InvalidGeometryError: (a MedicalImageError) If pixdim, an xform code, or a declared
            qform or sform is unusable: NaN, Inf, singular, (nearly) collinear axes.
        InvalidHeaderValueError: (a MedicalImageError) If scl_slope/scl_inter are unusable.
    """
    path = Path(path)
    return nifti_image_to_volume(path, open_nifti(path), dtype=dtype)


def open_nifti(path: str | os.PathLike[str]) -> nib.Nifti1Image:
    """Open a NIfTI file with its raw header checked and its voxels not yet decoded.

    For readers that decide from the header (shape, channel count, voxel budget) before
    paying for the pixels, as ``medai.io.channels`` does; read_nifti is this plus decoding.

    Args:
        path: The NIfTI file.

    Returns:
        The image as nibabel opened it: its shape and affine are known, its data proxied.

    Raises:
        MedicalImageError: If the file is missing, not NIfTI or its header unreadable.
        InvalidHeaderValueError: (a MedicalImageError) If the raw header's geometry or
            scaling is unusable (see medai.io.nifti_header.check_header).
    """
    path = Path(path)
    _require_file(path)
    with nifti_errors(path):
        nifti_header.check_header_bytes(path, _head_of(path))
        image = nib.load(path, mmap=False)
    if not isinstance(image, nib.Nifti1Image):  # Nifti2Image is a subclass
        raise MedicalImageError(
            path, f"is not a NIfTI file (nibabel reads it as {type(image).__name__})"
        )
    return image


def nifti_image_to_volume(
    source: str | os.PathLike[str],
    image: object,
    *,
    dtype: type[np.floating[Any]] = np.float32,
) -> Volume:
    """Turn an opened nibabel image into a 3D Volume by the same rules as read_nifti.

    Split out of read_nifti so that images built from bytes in memory (HTTP uploads) are
    checked exactly like files on disk: same squeeze, same header and NaN checks, same
    messages. nibabel has already repaired some header fields of an opened image, so a
    caller holding the file's bytes also checks them raw first, as read_nifti does
    (medai.io.nifti_header.check_header_bytes).

    Args:
        source: What the image came from; only used to name it in error messages.
        image: The image nibabel opened (lazily or not).
        dtype: Floating type of the returned array.

    Returns:
        The volume; a 4D image whose last axis has size 1 is squeezed to 3D.

    Raises:
        MedicalImageError: If the image is not NIfTI, its data are truncated, it is not 3D, or
            it holds NaN or infinite voxels.
        InvalidGeometryError: (a MedicalImageError) If its header or affine is unusable.
        InvalidHeaderValueError: (a MedicalImageError) If scl_slope/scl_inter are unusable.
    """
    with nifti_errors(source):
        nifti = _as_nifti_3d(Path(source), image)
        nifti_header.check_header(source, nifti.header)
        affine = header_checks.affine(source, nifti_header.affine_name(nifti.header), nifti.affine)
        # A huge scl_slope overflows to Inf, refused just below: no need for numpy's warning.
        with np.errstate(over="ignore", invalid="ignore"):
            data: NDArray[np.floating[Any]] = nifti.get_fdata(dtype=dtype)
    if data.ndim == _NDIM_SQUEEZABLE:
        data = data[..., 0]
    if not np.isfinite(data).all():
        raise MedicalImageError(source, "contains NaN or infinite voxels")
    return Volume(data, affine)


def write_nifti(
    path: str | os.PathLike[str],
    array: NDArray[Any],
    affine: NDArray[np.floating[Any]],
    *,
    dtype: DTypeLike | None = None,
) -> Path:
    """Write a 3D array and its affine as NIfTI, compressed if the name ends in .nii.gz.

    The affine goes into both qform and sform so every reader (nibabel, ITK, FSL) places the
    image identically; sform is stored as float32, so that is the precision kept.

    Args:
        path: Destination; missing parent folders are created.
        array: 3D voxel data.
        affine: 4x4 voxel-to-RAS+ millimetre matrix.
        dtype: On-disk voxel type. The array is cast with numpy rather than letting nibabel
            rescale, so label maps keep their labels. Default: the array's own type, except
            bool (not a NIfTI type) which becomes uint8.

    Returns:
        The path written.

    Raises:
        ValueError: If the suffix is not a NIfTI one, or array or affine have the wrong shape.
    """
    path = Path(path)
    if not path.name.lower().endswith(NIFTI_SUFFIXES):
        raise ValueError(f"{path}: a NIfTI file name must end in {' or '.join(NIFTI_SUFFIXES)}")
    volume = Volume(_on_disk_array(np.asarray(array), dtype), np.asarray(affine))
    # nibabel leaves its NIfTI classes unannotated, hence the no-untyped-call ignores.
    image = nib.Nifti1Image(volume.array, volume.affine, dtype=volume.array.dtype)  # type: ignore[no-untyped-call]
    image.set_qform(volume.affine, code=_XFORM_CODE)  # type: ignore[no-untyped-call]
    image.set_sform(volume.affine, code=_XFORM_CODE)  # type: ignore[no-untyped-call]
    image.header.set_xyzt_units("mm")  # type: ignore[no-untyped-call]
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(image, path)
    return path


def read_volume(path: str | os.PathLike[str], *, accept: DicomAcceptance | None = None) -> Volume:
    """Read a volume from whatever the user pointed at: a DICOM series folder or a NIfTI file.

    Args:
        path: A folder holding one DICOM series, or a .nii / .nii.gz file.
        accept: The DICOM modalities, image types and body parts accepted (checked from
            each header before pixels are decoded); NIfTI carries no modality, so it is not
            checked against it.

    Returns:
        The volume in NIfTI (RAS+) geometry.

    Raises:
        MedicalImageError: If the path is missing, of an unsupported type, or unreadable.
    """
    path = Path(path)
    if path.is_dir():
        return read_dicom_series(path, accept=accept)
    _require_file(path)
    if path.name.lower().endswith(NIFTI_SUFFIXES):
        return read_nifti(path)
    accepted = ", ".join(NIFTI_SUFFIXES)
    raise MedicalImageError(
        path, f"is not a supported image; expected {accepted} or a folder of DICOM files"
    )


@contextmanager
def nifti_errors(source: str | os.PathLike[str]) -> Iterator[None]:
    """Translate nibabel's and gzip's exceptions into one-line MedicalImageErrors.

    nibabel is lazy, so the same failures surface at load time and at data-read time; one
    translation keeps both places (and every reader built on open_nifti) saying the same
    thing.
    """
    try:
        yield
    except MedicalImageError:
        raise
    except (ImageFileError, HeaderDataError, ValueError) as exc:
        # ValueError: nibabel's own check of a header it is building from (a bad quaternion).
        raise MedicalImageError(source, f"is not a NIfTI file (bad header: {exc})") from exc
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise MedicalImageError(source, f"is truncated or not valid gzip ({exc})") from exc
    except OSError as exc:
        raise MedicalImageError(source, f"is truncated or unreadable ({exc})") from exc


def _head_of(path: Path) -> bytes:
    """The file's first bytes, gunzipped when it is gzip (by content: names can lie)."""
    with path.open("rb") as stream:
        head = stream.read(nifti_header.HEADER_BYTES)
    if head.startswith(_GZIP_MAGIC):
        with gzip.open(path, "rb") as stream:
            head = stream.read(nifti_header.HEADER_BYTES)
    return head


def _require_file(path: Path) -> None:
    if not path.exists():
        raise MedicalImageError(path, "does not exist")
    if not path.is_file():
        raise MedicalImageError(path, "is not a file")


def _as_nifti_3d(path: Path, image: object) -> nib.Nifti1Image:
    if not isinstance(image, nib.Nifti1Image):  # Nifti2Image is a subclass
        raise MedicalImageError(
            path, f"is not a NIfTI file (nibabel reads it as {type(image).__name__})"
        )
    shape = image.shape
    squeezable = len(shape) == _NDIM_SQUEEZABLE and shape[-1] == 1
    if len(shape) != _NDIM and not squeezable:
        raise MedicalImageError(
            path,
            f"has {len(shape)} dimensions; expected a 3D volume "
            "(a 4D image with a last axis of size 1 is accepted and squeezed)",
        )
    return image


def _on_disk_array(array: NDArray[Any], dtype: DTypeLike | None) -> NDArray[Any]:
    if dtype is not None:
        return array.astype(dtype, copy=False)
    if array.dtype == np.bool_:
        return array.astype(np.uint8)
    return array
