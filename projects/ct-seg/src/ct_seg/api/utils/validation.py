"""ct-seg accepts a CT volume as one NIfTI file or a DICOM series (zip or one part a slice)."""

from medai.segmentation.serving.validation import volume_from_upload

__all__ = ["volume_from_upload"]
