"""Medical image IO: NIfTI and DICOM series in, one Volume type with a RAS+ affine out.

2D radiographs (DICOM, PNG, JPEG) come in through read_radiograph as one Radiograph type;
multi-channel volumes (one 4D NIfTI, or one 3D file per channel) through read_channels as
one (C, X, Y, Z) ChannelVolume.
"""

from medai.io.acceptance import DicomAcceptance, InputNotAcceptedError
from medai.io.channels import (
    ChannelCountError,
    ChannelMismatchError,
    ChannelVolume,
    read_channels,
)
from medai.io.dicom import read_dicom_series
from medai.io.errors import InvalidGeometryError, InvalidHeaderValueError, MedicalImageError
from medai.io.nifti import NIFTI_SUFFIXES, read_nifti, read_volume, write_nifti
from medai.io.radiograph import (
    RADIOGRAPH_MODALITIES,
    CorruptImageError,
    NotARadiographError,
    Radiograph,
    RadiographLimits,
    TooManyPixelsError,
    UnknownImageFormatError,
    UnsupportedImageError,
    read_radiograph,
)
from medai.io.volume import Volume

__all__ = [
    "NIFTI_SUFFIXES",
    "RADIOGRAPH_MODALITIES",
    "ChannelCountError",
    "ChannelMismatchError",
    "ChannelVolume",
    "CorruptImageError",
    "DicomAcceptance",
    "InputNotAcceptedError",
    "InvalidGeometryError",
    "InvalidHeaderValueError",
    "MedicalImageError",
    "NotARadiographError",
    "Radiograph",
    "RadiographLimits",
    "TooManyPixelsError",
    "UnknownImageFormatError",
    "UnsupportedImageError",
    "Volume",
    "read_channels",
    "read_dicom_series",
    "read_nifti",
    "read_radiograph",
    "read_volume",
    "write_nifti",
]
