"""cxr-cls accepts one image: 8-bit grayscale PNG/JPEG, or a CR/DX DICOM file."""

from medai.classification.serving.validation import radiograph_from_upload

__all__ = ["radiograph_from_upload"]
