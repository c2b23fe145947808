"""A catalogue of hostile and degenerate inputs, by class, for every project's test suite.

Each function returns named members of one class of bad input, as the bytes a client would
upload (or write to disk for ``invoke predict``): NIfTI files with degenerate geometry or
non-finite headers, NIfTI files whose geometry resamples to a huge grid, DICOM slices with
impossible spacing, orientation, rescale or window values, and DICOM of a modality, image
type or body part a project does not accept. The servers' and the command line's hostile
suites send all of them; a new member added here is tested everywhere at once.

Built from files that packages ship (pydicom's ``CT_small.dcm`` and ``MR_small.dcm``), so
nothing is downloaded. Every DICOM here carries a fake patient name and ID
(``PLANTED_PHI``) so that a suite can check none of it reaches a response or a log.
"""

from __future__ import annotations

import copy
import gzip
import io
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import nibabel as nib
import numpy as np
import pydicom
from pydicom.data import get_testdata_file
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import Tag
from pydicom.uid import generate_uid

__all__ = [
    "PLANTED_PHI",
    "HostileInput",
    "degenerate_dicom_series",
    "degenerate_niftis",
    "degenerate_radiographs",
    "huge_grid_niftis",
    "nifti_bytes",
    "put_raw",
    "raw_nifti",
    "unaccepted_dicom_series",
    "unaccepted_radiographs",
    "write_series",
]

PLANTED_PHI: Final = ("Doe^Hostile", "PHI-HOSTILE-0042")
"""PatientName and PatientID written into every DICOM here; must never come back."""

_ABSURD: Final = "1e308"
_EDGE: Final = 8
_VOX_OFFSET: Final = 352  # a single-file NIfTI-1: 348 header bytes and 4 extension-flag bytes


@dataclass(frozen=True)
class HostileInput:
    """One member of a class of bad input.

    Attributes:
        name: What is wrong, as a test id (``"sform-nan"``).
        files: The file(s) to upload in order; a DICOM series is one file per slice.
        attribute: The header attribute the refusal should name (``"PixelSpacing"``), or
            None where several wordings are right.
    """

    name: str
    files: tuple[bytes, ...]
    attribute: str | None = None

    def write(self, folder: Path) -> Path:
        """Write the input as ``invoke predict`` would read it: a NIfTI file or a series folder.

        Returns:
            The NIfTI file, or the folder of slices.
        """
        folder.mkdir(parents=True, exist_ok=True)
        if len(self.files) == 1 and not _is_dicom(self.files[0]):
            path = folder / f"{self.name}.nii.gz"
            data = self.files[0]
            path.write_bytes(data if data.startswith(b"\x1f\x8b") else gzip.compress(data))
            return path
        series = folder / self.name
        series.mkdir()
        for index, data in enumerate(self.files):
            (series / f"IM{index:04d}.dcm").write_bytes(data)
        return series


def _is_dicom(data: bytes) -> bool:
    return data[128:132] == b"DICM"


# --- NIfTI ----------------------------------------------------------------------------------


def nifti_bytes(
    *,
    shape: tuple[int, int, int] = (_EDGE, _EDGE, _EDGE),
    sform: np.ndarray | None = None,
    sform_code: int = 1,
    qform: np.ndarray | None = None,
    qform_code: int = 1,
    header_fields: Mapping[str, Any] | None = None,
    compress: bool = True,
) -> bytes:
    """A small NIfTI-1 image with exactly the geometry given, written field by field.

    nibabel normalises what it is handed through ``set_sform``/``set_qform``; hostile files
    are not normalised, so the fields are written raw after the image is built.

    Args:
        shape: Voxels per axis; the data is a smooth ramp in [0, 1000].
        sform: The 4x4 written to srow_x/y/z (default: 1.5 mm isotropic).
        sform_code: 0 disables the sform.
        qform: The 4x4 the qform fields are set from (default: the sform), if valid.
        qform_code: 0 disables the qform.
        header_fields: Raw header fields written last (``{"pixdim": [...]}``).
        compress: gzip the result, as .nii.gz.

    Returns:
        The file's bytes.
    """
    good = np.diag([1.5, 1.5, 1.5, 1.0])
    data = np.linspace(0.0, 1000.0, int(np.prod(shape)), dtype=np.float32).reshape(shape)
    image = nib.Nifti1Image(data, good)  # type: ignore[no-untyped-call]
    header = image.header
    header.set_qform(good if qform is None else qform, code=qform_code)  # type: ignore[no-untyped-call]
    header.set_sform(good, code=sform_code)  # type: ignore[no-untyped-call]
    if sform is not None:
        header["srow_x"], header["srow_y"], header["srow_z"] = np.asarray(sform)[:3]
    header["vox_offset"] = _VOX_OFFSET
    for key, value in (header_fields or {}).items():
        header[key] = value
    buffer = io.BytesIO()
    buffer.write(header.binaryblock)
    buffer.write(b"\0" * (int(header["vox_offset"]) - len(header.binaryblock)))
    buffer.write(data.astype("<f4").tobytes(order="F"))
    raw = buffer.getvalue()
    return gzip.compress(raw, mtime=0) if compress else raw


def raw_nifti(
    *,
    shape: tuple[int, int, int] = (_EDGE, _EDGE, _EDGE),
    affine: np.ndarray | None = None,
    voxels: np.ndarray | None = None,
    compress: bool = False,
    **fields: object,
) -> bytes:
    """A NIfTI-1 of int16 voxels whose header ``fields`` are written raw, exactly as given.

    Unlike ``nifti_bytes`` (a float image whose transforms are set through nibabel first),
    this starts from a bare header: what a test of one field's parsing needs.

    Args:
        shape: Voxels per axis.
        affine: Written to qform and sform (code 1) before ``fields``; default 1.5 mm.
        voxels: The voxel values (default ones), written in NIfTI's Fortran order.
        compress: gzip the result.
        **fields: Raw header fields (``pixdim=[...]``, ``srow_x=[...]``, ``sform_code=0``).

    Returns:
        The file's bytes.
    """
    header = nib.Nifti1Header()  # type: ignore[no-untyped-call]
    header.set_data_shape(shape)  # type: ignore[no-untyped-call]
    header.set_data_dtype(np.int16)  # type: ignore[no-untyped-call]
    transform = np.diag([1.5, 1.5, 1.5, 1.0]) if affine is None else affine
    header.set_qform(transform, code=1)  # type: ignore[no-untyped-call]
    header.set_sform(transform, code=1)  # type: ignore[no-untyped-call]
    header["vox_offset"] = _VOX_OFFSET
    for key, value in fields.items():
        header[key] = value
    values = np.ones(int(np.prod(shape)), np.int16) if voxels is None else voxels
    data = np.asarray(values).astype(header.get_data_dtype()).tobytes(order="F")  # type: ignore[no-untyped-call]
    raw = header.binaryblock + b"\0" * (_VOX_OFFSET - len(header.binaryblock)) + data
    return gzip.compress(raw, mtime=0) if compress else raw


def put_raw(dataset: Dataset, keyword: str, text: str) -> None:
    """Store ``text`` as the element's bytes, as a hostile writer would: no validation.

    pydicom validates (and warns about) values set as attributes; a raw element holds
    whatever bytes a sender wrote, which is what a reader must survive.
    """
    number = tag_for_keyword(keyword)
    if number is None:
        raise ValueError(f"{keyword!r} is not a DICOM keyword")
    tag = Tag(number)
    data = text.encode("latin-1")
    if len(data) % 2:
        data += b" "  # DICOM values have even length, padded with a space
    dataset[tag] = RawDataElement(
        tag, dictionary_VR(tag), len(data), data, 0, is_implicit_VR=False, is_little_endian=True
    )


def _sform(*columns: tuple[float, float, float]) -> np.ndarray:
    affine = np.eye(4)
    for index, column in enumerate(columns):
        affine[:3, index] = column
    return affine


def degenerate_niftis() -> list[HostileInput]:
    """NIfTI files whose geometry or header values no reader should accept.

    Singular, collinear, NaN and infinite affines in the sform and in the qform (with the
    other one valid or switched off), and NaN, infinite, zero or negative pixdim.
    """
    nan, inf = float("nan"), float("inf")
    cases: dict[str, bytes] = {
        "sform-singular": nifti_bytes(sform=_sform((1.5, 0, 0), (0, 1.5, 0), (0, 0, 0))),
        "sform-collinear": nifti_bytes(sform=_sform((1.5, 0, 0), (3.0, 0, 0), (0, 0, 1.5))),
        "sform-nan": nifti_bytes(sform=_sform((nan, 0, 0), (0, 1.5, 0), (0, 0, 1.5))),
        "sform-inf": nifti_bytes(sform=_sform((1.5, 0, 0), (0, inf, 0), (0, 0, 1.5))),
        "sform-offset-nan": nifti_bytes(
            sform=np.array([[1.5, 0, 0, nan], [0, 1.5, 0, 0], [0, 0, 1.5, 0], [0, 0, 0, 1]])
        ),
        "qform-offset-nan": nifti_bytes(sform_code=0, header_fields={"qoffset_x": nan}),
        "qform-quaternion-inf": nifti_bytes(sform_code=0, header_fields={"quatern_b": inf}),
        "qform-nan-beside-valid-sform": nifti_bytes(header_fields={"qoffset_y": nan}),
        "pixdim-zero": nifti_bytes(
            sform_code=0, header_fields={"pixdim": [1, 0.0, 1.5, 1.5, 1, 1, 1, 1]}
        ),
        "pixdim-negative": nifti_bytes(
            sform_code=0, header_fields={"pixdim": [1, -1.5, 1.5, 1.5, 1, 1, 1, 1]}
        ),
        "pixdim-nan": nifti_bytes(
            sform_code=0, header_fields={"pixdim": [1, nan, 1.5, 1.5, 1, 1, 1, 1]}
        ),
        "pixdim-inf": nifti_bytes(
            sform_code=0, header_fields={"pixdim": [1, 1.5, inf, 1.5, 1, 1, 1, 1]}
        ),
        "no-xform-pixdim-zero": nifti_bytes(
            sform_code=0, qform_code=0, header_fields={"pixdim": [1, 1.5, 1.5, 0.0, 1, 1, 1, 1]}
        ),
        "scl-slope-inf": nifti_bytes(header_fields={"scl_slope": inf}),
        "spacing-1e-30mm": nifti_bytes(sform=np.diag([1e-30] * 3 + [1.0]), qform=None),
        "scl-inter-nan": nifti_bytes(header_fields={"scl_slope": 1.0, "scl_inter": nan}),
    }
    return [HostileInput(name, (data,)) for name, data in cases.items()]


def huge_grid_niftis() -> list[HostileInput]:
    """Tiny files whose voxel size resamples to a huge grid at a model's spacing.

    An 8^3 volume of 100 mm voxels is 800 mm a side: 533^3 voxels at 1.5 mm, a gigabyte per
    float32 copy; 1e4 mm and 1e30 mm overflow any allocation. A 1e-30 mm voxel is the
    opposite (``degenerate_niftis``): the readers refuse it.
    """
    cases = {}
    for spacing in (100.0, 1e4, 1e30):
        affine = np.diag([spacing, spacing, spacing, 1.0])
        cases[f"spacing-{spacing:g}mm"] = nifti_bytes(sform=affine, qform=affine)
    stretched = np.diag([1.5, 1.5, 5000.0, 1.0])
    cases["one-axis-5000mm"] = nifti_bytes(sform=stretched, qform=stretched)
    return [HostileInput(name, (data,)) for name, data in cases.items()]


# --- DICOM ----------------------------------------------------------------------------------


def _dataset(source: str = "CT_small.dcm") -> Dataset:
    dataset = pydicom.dcmread(str(get_testdata_file(source)))
    dataset.PatientName, dataset.PatientID = PLANTED_PHI
    return dataset


def _encoded(dataset: Dataset) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # pydicom warns about hostile values
        dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _set(dataset: Dataset, **values: object) -> Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for keyword, value in values.items():
            setattr(dataset, keyword, value)
    return dataset


def write_series(
    change: Callable[[Dataset, int], None] | None = None,
    *,
    slices: int = 3,
    source: str = "CT_small.dcm",
    step_mm: float = 2.0,
) -> tuple[bytes, ...]:
    """A small axial series from a packaged slice, with ``change(dataset, index)`` applied.

    Returns:
        One encoded file per slice.
    """
    base = _dataset(source)
    series = generate_uid()
    origin = [float(value) for value in base.ImagePositionPatient]
    files = []
    for index in range(slices):
        dataset = copy.deepcopy(base)
        _set(
            dataset,
            SeriesInstanceUID=series,
            SOPInstanceUID=generate_uid(),
            InstanceNumber=index + 1,
            ImagePositionPatient=[origin[0], origin[1], origin[2] + index * step_mm],
            ImageOrientationPatient=[1, 0, 0, 0, 1, 0],
        )
        dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
        if change is not None:
            change(dataset, index)
        files.append(_encoded(dataset))
    return tuple(files)


def _everywhere(**values: object) -> Callable[[Dataset, int], None]:
    def change(dataset: Dataset, _index: int) -> None:
        _set(dataset, **values)

    return change


_BAD_VALUES: Final[dict[str, tuple[str, dict[str, Any]]]] = {
    "pixel-spacing-zero": ("PixelSpacing", {"PixelSpacing": ["0", "0.66"]}),
    "pixel-spacing-negative": ("PixelSpacing", {"PixelSpacing": ["-0.66", "0.66"]}),
    "pixel-spacing-nan": ("PixelSpacing", {"PixelSpacing": ["nan", "0.66"]}),
    "pixel-spacing-absurd": ("PixelSpacing", {"PixelSpacing": [_ABSURD, "0.66"]}),
    "orientation-zero": ("ImageOrientationPatient", {"ImageOrientationPatient": [0] * 6}),
    "orientation-not-unit": (
        "ImageOrientationPatient",
        {"ImageOrientationPatient": [2, 0, 0, 0, 2, 0]},
    ),
    "orientation-not-orthogonal": (
        "ImageOrientationPatient",
        {"ImageOrientationPatient": [1, 0, 0, 0.7071, 0.7071, 0]},
    ),
    "orientation-parallel": (
        "ImageOrientationPatient",
        {"ImageOrientationPatient": [1, 0, 0, 1, 0, 0]},
    ),
    "rescale-slope-nan": ("RescaleSlope", {"RescaleSlope": "nan"}),
    "rescale-slope-inf": ("RescaleSlope", {"RescaleSlope": "inf"}),
    "rescale-slope-absurd": ("RescaleSlope", {"RescaleSlope": _ABSURD}),
    "rescale-slope-zero": ("RescaleSlope", {"RescaleSlope": "0"}),
    "rescale-intercept-nan": ("RescaleIntercept", {"RescaleIntercept": "nan"}),
    "rescale-intercept-absurd": ("RescaleIntercept", {"RescaleIntercept": "-" + _ABSURD}),
    "window-center-nan": ("WindowCenter", {"WindowCenter": "nan", "WindowWidth": "400"}),
    "window-width-inf": ("WindowWidth", {"WindowCenter": "40", "WindowWidth": "inf"}),
    "window-width-zero": ("WindowWidth", {"WindowCenter": "40", "WindowWidth": "0"}),
    "window-width-negative": ("WindowWidth", {"WindowCenter": "40", "WindowWidth": "-400"}),
    "window-width-absurd": ("WindowWidth", {"WindowCenter": "40", "WindowWidth": _ABSURD}),
}
"""Header values of the degenerate class: the attribute each member breaks, and its values."""


def degenerate_dicom_series() -> list[HostileInput]:
    """CT series with impossible spacing, orientation, rescale or window values.

    Besides the per-file values, three series-level members: a zero and a negative
    SliceThickness on a single slice (where the reader needs it for the third axis), and
    slices all at one position.
    """
    cases = [
        HostileInput(name, write_series(_everywhere(**values)), attribute)
        for name, (attribute, values) in _BAD_VALUES.items()
        if not name.startswith("window")  # windows do not affect CT volumes; see radiographs
    ]
    cases.extend(
        HostileInput(
            f"single-slice-thickness-{thickness}",
            write_series(_everywhere(SliceThickness=thickness), slices=1),
            "SliceThickness",
        )
        for thickness in ("0", "-2")
    )
    cases.append(HostileInput("slices-at-one-position", write_series(step_mm=0.0)))
    return cases


def unaccepted_dicom_series() -> list[HostileInput]:
    """Readable DICOM a CT project must refuse: an MR slice, a CT localizer, no Modality."""

    def localizer(dataset: Dataset, _index: int) -> None:
        _set(dataset, ImageType=["ORIGINAL", "PRIMARY", "LOCALIZER"])

    def no_modality(dataset: Dataset, _index: int) -> None:
        del dataset.Modality

    return [
        HostileInput("modality-mr", write_series(source="MR_small.dcm", slices=1), "Modality"),
        HostileInput("ct-localizer", write_series(localizer), "ImageType"),
        HostileInput("modality-missing", write_series(no_modality), "Modality"),
    ]


def _radiograph(**values: object) -> bytes:
    dataset = _set(_dataset(), **{"Modality": "DX", "BodyPartExamined": "CHEST", **values})
    for keyword in ("ImagePositionPatient", "ImageOrientationPatient", "SliceLocation"):
        if keyword in dataset:
            delattr(dataset, keyword)
    return _encoded(dataset)


def degenerate_radiographs() -> list[HostileInput]:
    """DX radiographs with impossible spacing, rescale or window values."""
    return [
        HostileInput(name, (_radiograph(**values),), attribute)
        for name, (attribute, values) in _BAD_VALUES.items()
        if not name.startswith("orientation")  # projections carry no patient orientation
    ]


def unaccepted_radiographs() -> list[HostileInput]:
    """Readable DICOM a chest classifier must refuse: CT, MR, a knee, a localizer."""
    ct = _set(_dataset(), BodyPartExamined="CHEST")
    return [
        HostileInput("modality-ct", (_encoded(ct),), "Modality"),
        HostileInput("modality-mr", (_encoded(_dataset("MR_small.dcm")),), "Modality"),
        HostileInput("body-part-knee", (_radiograph(BodyPartExamined="KNEE"),), "BodyPartExamined"),
        HostileInput(
            "localizer",
            (_radiograph(ImageType=["ORIGINAL", "PRIMARY", "LOCALIZER"]),),
            "ImageType",
        ),
    ]
