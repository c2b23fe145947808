"""Fixtures of cxr-cls's tests: a few generated shapes, a throwaway MLflow store.

Nothing mocks the work away: the images are PNG files with a label CSV on disk, the
network is trained for two epochs and registered in a SQLite MLflow store under
pytest's temporary folder.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cxr_cls.settings import PROJECT
from medai.testing import session_fixtures

SMALL = yaml.safe_load(Path(__file__).with_name("fast_settings.yaml").read_text(encoding="utf-8"))
"""Settings that shrink a whole cxr-cls run to a few seconds: tests/fast_settings.yaml,
the project's own file (it names its data's keys), so this one stays the template's."""


@pytest.fixture(autouse=True)
def _own_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the shell's MEDAI_* choices or writes to the repo's MLflow store."""
    for name in ("MEDAI_ENV", "MEDAI_API_KEYS", "MEDAI_API_KEYS_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'stray.db'}")


# The store the integration tests share, and the small classifier trained into it once.
session_overrides, session_options, registry, trained = session_fixtures(
    PROJECT, SMALL, train="medai.classification.training_run:train"
)
