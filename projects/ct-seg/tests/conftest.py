"""Fixtures of ct-seg's tests: tiny generated spheres, a throwaway MLflow store.

Nothing mocks the work away: the data is NIfTI on disk, the model is trained for two
epochs and registered in a SQLite MLflow store under pytest's temporary folder.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ct_seg.settings import PROJECT
from medai.testing import session_fixtures

FAST = yaml.safe_load(Path(__file__).with_name("fast_settings.yaml").read_text(encoding="utf-8"))
"""Settings that shrink a whole run of ct-seg to seconds: tests/fast_settings.yaml,
the project's own file (it names its data's keys), so this one stays the template's."""


@pytest.fixture(autouse=True)
def _no_stray_tracking(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """MLflow calls without the test's settings land in ``tmp_path``, never the repo's store."""
    monkeypatch.delenv("MEDAI_ENV", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'stray.db'}")


# The store the integration tests share, and the tiny model trained into it once.
session_overrides, session_options, registry, trained = session_fixtures(
    PROJECT, FAST, train="medai.segmentation.training:train"
)
