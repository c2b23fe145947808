"""cxr-cls's own unit fixtures: its tiny synthetic dataset.

The shrinking values are tests/fast_settings.yaml's, the ones the template's
tests/conftest.py trains the session model with.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cxr_cls.settings import BINDING, PROJECT
from medai.testing import throwaway_overrides

FAST = yaml.safe_load(Path(__file__).parents[1].joinpath("fast_settings.yaml").read_text())


@pytest.fixture
def tiny_dataset(tmp_path: Path):
    """The tiny synthetic dataset (generated under ``tmp_path``) and its patient split."""
    return PROJECT.load_data(BINDING.load(throwaway_overrides(tmp_path, FAST), environ={}))
