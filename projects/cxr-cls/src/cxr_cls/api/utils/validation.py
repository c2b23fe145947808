"""cxr-cls accepts one radiograph: an 8-bit grayscale PNG/JPEG or a CR/DX DICOM file.

A CT slice, an RT plan, a colour or 16-bit PNG or a tiny image is refused with its 4xx.
"""

from medai.classification.serving.validation import api_error_of, radiograph_from_upload

__all__ = ["api_error_of", "radiograph_from_upload"]
