"""ct-seg takes a CT volume: one NIfTI file or a DICOM series (zip or parts)."""

from medai.segmentation.serving.validation import volume_from_upload

__all__ = ["volume_from_upload"]
