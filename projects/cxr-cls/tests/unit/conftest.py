"""cxr-cls's own unit fixtures: its tiny synthetic dataset, DICOM files by photometry.

The shrinking values are tests/fast_settings.yaml's, the ones the template's
tests/conftest.py trains the session model with.
"""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
import yaml

from cxr_cls.settings import BINDING, PROJECT
from medai.testing import throwaway_overrides

FAST = yaml.safe_load(Path(__file__).parents[1].joinpath("fast_settings.yaml").read_text())


@pytest.fixture
def tiny_dataset(tmp_path: Path):
    """The tiny synthetic dataset (generated under ``tmp_path``) and its patient split."""
    return PROJECT.load_data(BINDING.load(throwaway_overrides(tmp_path, FAST), environ={}))


def dicom_files(folder: Path, photometric: str) -> list[Path]:
    """The DICOM files under ``folder`` with this PhotometricInterpretation, sorted."""
    return [
        path
        for path in sorted(folder.rglob("*.dcm"))
        if pydicom.dcmread(path, stop_before_pixels=True).PhotometricInterpretation == photometric
    ]


@pytest.fixture
def find_dicoms():
    """``find_dicoms(folder, "MONOCHROME1")``: its DICOM files of that photometry."""
    return dicom_files
