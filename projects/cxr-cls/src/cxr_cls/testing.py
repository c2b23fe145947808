"""Helpers that cxr-cls's unit and integration tests both use.

They live in the package because the one conftest.py above both test folders is the
template's (rendered for every classification project), and the tests are not a package.
"""

from __future__ import annotations

from pathlib import Path

import pydicom

__all__ = ["dicom_files"]


def dicom_files(folder: Path, photometric: str) -> list[Path]:
    """The DICOM files under ``folder`` with this PhotometricInterpretation, sorted.

    Only headers are read, so a whole generated dataset is scanned in well under a second.

    Args:
        folder: Searched recursively for ``*.dcm``.
        photometric: ``MONOCHROME1`` (low values bright) or ``MONOCHROME2``.

    Returns:
        The matching paths, sorted.
    """
    return [
        path
        for path in sorted(folder.rglob("*.dcm"))
        if pydicom.dcmread(path, stop_before_pixels=True).PhotometricInterpretation == photometric
    ]
