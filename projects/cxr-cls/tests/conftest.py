"""Fixtures shared by cxr-cls's tests: tiny real radiographs, a throwaway MLflow store, a server.

Nothing here mocks the work away: the data is the project's synthetic generator writing
PNG and DICOM DX files and a CheXpert-layout CSV; the tracking store is a real SQLite
MLflow store under the test's temporary folder; the server is a real uvicorn process
(``medai.classification.testing.ServerProcess``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pydicom
import pytest

from cxr_cls.settings import BINDING, PROJECT, CxrClsSettings
from medai.classification.testing import ServerProcess, server_environment

if TYPE_CHECKING:
    from medai.classification.training_run import TrainingResult

PHI_NAME = "Doe^Jane"
PHI_ID = "PHI-123456"


TINY_RUN = (
    "data.synthetic.n_patients=16",
    "data.synthetic.size=48",
    "data.synthetic.dicom_fraction=0.5",
    "data.validation_fraction=0.25",
    "preprocessing.image_size=32",
    "model.init_features=8",
    "model.growth_rate=8",
    "model.block_config=[2, 2]",
    "train.epochs=2",
    "train.batch_size=16",
    "train.torch_threads=1",
    "train.read_threads=2",
    "evaluate.bootstrap_resamples=200",
    "evaluate.cam_cases=2",
)
"""A full run shrunk to seconds: 16 patients at 48 px, a tiny network, two epochs."""


def tiny_overrides(root: Path) -> list[str]:
    """``TINY_RUN`` with the data, the MLflow store and the reports under ``root``."""
    places = {
        "tracking.uri": f"sqlite:///{root / 'mlflow.db'}",
        "tracking.artifact_location": (root / "mlruns").as_uri(),
        "data.root": str(root / "data"),
        "evaluate.output_dir": str(root / "evaluation"),
    }
    return [*TINY_RUN, *(f"{key}={value}" for key, value in places.items())]


@pytest.fixture(autouse=True)
def _isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the shell's MEDAI_* choices or reaches the user's MLflow store."""
    for name in ("MEDAI_ENV", "MEDAI_API_KEYS", "MEDAI_API_KEYS_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'unexpected-mlflow.db'}")


@pytest.fixture
def tiny_dataset(tmp_path: Path):
    """The tiny synthetic dataset (generated under ``tmp_path``) and its patient split."""
    return PROJECT.load_data(BINDING.load(tiny_overrides(tmp_path), environ={}))


def dicom_with_phi(source: Path, target: Path) -> Path:
    """A copy of a synthetic DICOM DX with a (fake) patient name and id in its header."""
    dataset = pydicom.dcmread(source)
    dataset.PatientName = PHI_NAME
    dataset.PatientID = PHI_ID
    target.parent.mkdir(parents=True, exist_ok=True)
    dataset.save_as(target)
    return target


def dicom_files(folder: Path, photometric: str) -> list[Path]:
    """The DICOM files under ``folder`` with this PhotometricInterpretation, sorted."""
    return [
        path
        for path in sorted(folder.rglob("*.dcm"))
        if pydicom.dcmread(path, stop_before_pixels=True).PhotometricInterpretation == photometric
    ]


@pytest.fixture
def add_phi():
    """``add_phi(source, target)``: a copy of a DICOM with a fake patient name and id."""
    return dicom_with_phi


@pytest.fixture
def find_dicoms():
    """``find_dicoms(folder, "MONOCHROME1")``: its DICOM files of that photometry."""
    return dicom_files


@dataclass(frozen=True)
class TrainedModel:
    """A model trained once per test session in a throwaway MLflow store."""

    root: Path
    settings: CxrClsSettings
    result: TrainingResult

    @property
    def overrides(self) -> list[str]:
        """The ``--set`` values that reproduce ``settings``."""
        return tiny_overrides(self.root)

    @property
    def raw(self) -> Path:
        """Where the synthetic radiographs were generated."""
        return self.root / "data" / "raw"


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory: pytest.TempPathFactory) -> TrainedModel:
    """The tiny configuration trained once (seconds) into a throwaway store, and registered."""
    from medai.classification.training_run import train  # noqa: PLC0415 - heavy: integration

    root = tmp_path_factory.mktemp("trained")
    settings = BINDING.load(tiny_overrides(root), environ={})
    result = train(PROJECT, settings)
    return TrainedModel(root=root, settings=settings, result=result)


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
