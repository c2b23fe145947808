"""ct-seg's own integration fixtures: a DICOM series, the trained model, a live server.

The model is the template's session model (``trained`` in tests/conftest.py, shrunk by
tests/fast_settings.yaml), seen through ``trained_model``; the server is a real uvicorn
process on it. Nothing here mocks the work away.
"""

from __future__ import annotations

import copy
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from ct_seg.settings import BINDING, CtSegSettings
from medai.serving.launch import HTTP_PROTOCOL

if TYPE_CHECKING:
    from medai.segmentation.training import TrainingResult


def write_dicom_series(folder: Path, n_slices: int = 6, spacing_z: float = 2.0) -> Path:
    """A CT series made from pydicom's packaged ``CT_small.dcm``, slices along +z in LPS.

    File names run backwards against position so the reader must sort by position.
    """
    source = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    folder.mkdir(parents=True, exist_ok=True)
    origin = [float(v) for v in source.ImagePositionPatient]
    for index in range(n_slices):
        ds = copy.deepcopy(source)
        ds.ImagePositionPatient = [origin[0], origin[1], origin[2] + index * spacing_z]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.InstanceNumber = index + 1
        ds.SOPInstanceUID = pydicom.uid.generate_uid()
        ds.PatientName = "Doe^Jane"
        ds.PatientID = "PHI-123456"
        pixels = ds.pixel_array.astype(np.int16)
        ds.PixelData = pixels.tobytes()
        ds.save_as(folder / f"slice_{n_slices - index:03d}.dcm")
    return folder


@pytest.fixture
def dicom_series(tmp_path: Path) -> Path:
    """A folder holding one small CT DICOM series (with fake patient name and ID)."""
    return write_dicom_series(tmp_path / "series")


@dataclass(frozen=True)
class TrainedModel:
    """The session's model with the settings and folder it was trained with."""

    root: Path
    """The session's folder: ``data/``, ``mlflow.db``, ``mlruns/``, ``reports/``."""
    overrides: list[str]
    settings: CtSegSettings
    result: TrainingResult


@pytest.fixture(scope="session")
def trained_model(trained: TrainingResult, session_overrides: list[str]) -> TrainedModel:
    """The template's ``trained`` (trained once per session), with its settings and folder."""
    settings = BINDING.load(session_overrides, environ={})
    root = BINDING.resolve_path(settings.data.root).parent
    return TrainedModel(root, list(session_overrides), settings, trained)


@dataclass(frozen=True)
class RunningServer:
    """A real uvicorn process serving the materialized tiny model."""

    url: str
    api_key: str
    log_path: Path
    temp_dir: Path
    model_dir: Path
    process: subprocess.Popen[bytes]
    temp_baseline: frozenset[Path]

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 60.0) -> float:
    """Poll /ready; returns the seconds it took. Fails if the process dies first."""
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if process.poll() is not None:
            pytest.fail(f"server exited with status {process.returncode}")
        try:
            if httpx.get(f"{url}/ready", timeout=1.0).status_code == 200:
                return time.perf_counter() - start
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    pytest.fail(f"server not ready within {timeout} s")
    return timeout


@pytest.fixture(scope="session")
def materialized_model(trained_model: TrainedModel) -> Path:
    """The trained model's folder, materialized as ``invoke serve`` does it."""
    from medai.serving.launch import materialize_model  # noqa: PLC0415 - imports MLflow

    return materialize_model(
        trained_model.settings, BINDING.repo_root, trained_model.root / "models"
    )


@pytest.fixture(scope="session")
def running_server(materialized_model: Path, tmp_path_factory: pytest.TempPathFactory):
    """uvicorn with the ONNX backend and an API key, started and stopped by the test session."""
    root = tmp_path_factory.mktemp("server")
    temp_dir = root / "tmp"
    temp_dir.mkdir()
    port = free_port()
    api_key = "test-key-" + "x" * 24
    env = {
        **os.environ,
        "MEDAI_ENV": "development",
        "MEDAI_API_KEYS": api_key,
        "MEDAI__API__MODEL_DIR": str(materialized_model),
        "MEDAI__API__MAX_BODY_MB": "8",
        # Short client deadlines, so the hostile suite's stalled clients take seconds.
        "MEDAI__API__HEADER_TIMEOUT_S": "3",
        "MEDAI__API__BODY_IDLE_TIMEOUT_S": "3",
        "TMPDIR": str(temp_dir),
    }
    env.pop("MLFLOW_TRACKING_URI", None)
    log_path = root / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "ct_seg.api.main:create_app",
                "--http",
                HTTP_PROTOCOL,  # the head deadline and connection cap, as `invoke serve` runs
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-access-log",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process)
        # Libraries may leave a file at start-up; requests must add nothing to it.
        baseline = frozenset(temp_dir.iterdir())
        yield RunningServer(url, api_key, log_path, temp_dir, materialized_model, process, baseline)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
