"""cxr-cls's own integration fixtures: DICOMs with fake PHI, the trained model, a server.

The model is the template's session model (``trained`` in tests/conftest.py, shrunk by
tests/fast_settings.yaml), seen through ``trained_model``; the server is a real uvicorn
process (``medai.classification.testing.ServerProcess``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pydicom
import pytest

from cxr_cls.settings import BINDING, CxrClsSettings
from medai.classification.testing import ServerProcess, server_environment

if TYPE_CHECKING:
    from medai.classification.training_run import TrainingResult

PHI_NAME = "Doe^Jane"
PHI_ID = "PHI-123456"


def dicom_with_phi(source: Path, target: Path) -> Path:
    """A copy of a synthetic DICOM DX with a (fake) patient name and id in its header."""
    dataset = pydicom.dcmread(source)
    dataset.PatientName = PHI_NAME
    dataset.PatientID = PHI_ID
    target.parent.mkdir(parents=True, exist_ok=True)
    dataset.save_as(target)
    return target


@pytest.fixture
def add_phi():
    """``add_phi(source, target)``: a copy of a DICOM with a fake patient name and id."""
    return dicom_with_phi


@dataclass(frozen=True)
class TrainedModel:
    """The session's model with the settings and folder it was trained with."""

    root: Path
    overrides: list[str]
    """The ``--set`` values that reproduce ``settings``."""
    settings: CxrClsSettings
    result: TrainingResult

    @property
    def raw(self) -> Path:
        """Where the synthetic radiographs were generated."""
        return self.root / "data" / "raw"


@pytest.fixture(scope="session")
def trained_model(trained: TrainingResult, session_overrides: list[str]) -> TrainedModel:
    """The template's ``trained`` (trained once per session), with its settings and folder."""
    settings = BINDING.load(session_overrides, environ={})
    root = BINDING.resolve_path(settings.data.root).parent
    return TrainedModel(root, list(session_overrides), settings, trained)


@pytest.fixture(scope="session")
def materialized_model(trained_model: TrainedModel) -> Path:
    """The trained model's folder as ``invoke serve`` writes it: ONNX graph and card."""
    from medai.serving.launch import materialize_model  # noqa: PLC0415 - imports MLflow

    folder = trained_model.root / "models"
    return materialize_model(trained_model.settings, BINDING.repo_root, folder)


API_KEY = "cxr-test-key-" + "x" * 20
SERVER_SETTINGS = {
    "MEDAI__API__MAX_BODY_MB": "4",
    "MEDAI__RADIOGRAPH__MAX_PIXELS": str(1024 * 1024),
    "MEDAI__API__HEADER_TIMEOUT_S": "3",
    "MEDAI__API__BODY_IDLE_TIMEOUT_S": "3",
}
"""A 4 MB body limit, a 1 M pixel limit and 3 s client deadlines: cheap to cross in tests."""


@pytest.fixture(scope="session")
def running_server(materialized_model: Path, tmp_path_factory: pytest.TempPathFactory):
    """uvicorn on the ONNX backend with an API key, its imports traced, for the session."""
    log_path = tmp_path_factory.mktemp("server") / "server.log"
    env = server_environment(materialized_model, api_key=API_KEY, settings=SERVER_SETTINGS)
    server = ServerProcess.start(
        "cxr_cls.api.main:create_app", env=env, log_path=log_path, trace_imports=True
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def api_key() -> str:
    """The key ``running_server`` accepts."""
    return API_KEY
