"""Medical image IO: NIfTI and DICOM series in, one Volume type with a RAS+ affine out."""

from medai.io.dicom import read_dicom_series
from medai.io.errors import MedicalImageError
from medai.io.nifti import NIFTI_SUFFIXES, read_nifti, read_volume, write_nifti
from medai.io.volume import Volume

__all__ = [
    "NIFTI_SUFFIXES",
    "MedicalImageError",
    "Volume",
    "read_dicom_series",
    "read_nifti",
    "read_volume",
    "write_nifti",
]
