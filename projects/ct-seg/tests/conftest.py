"""Fixtures shared by ct-seg's tests: tiny real data, a throwaway MLflow store, settings.

Nothing here mocks the work away: data is a small synthetic MSD dataset on disk,
the tracking store is a real SQLite MLflow store under ``tmp_path``.
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

from ct_seg.settings import BINDING, PROJECT, CtSegSettings
from medai.serving.launch import HTTP_PROTOCOL

if TYPE_CHECKING:
    from medai.segmentation.training import TrainingResult


def tiny_overrides(root: Path) -> list[str]:
    """Overrides that shrink a full run to seconds: 40^3 volumes, 2 epochs, a small UNet."""
    return [
        f"data.root={root / 'data'}",
        "data.synthetic.n_cases=5",
        "data.synthetic.shape=[40, 40, 40]",
        "data.synthetic.shape_jitter=4",
        "data.validation_fraction=0.4",
        "preprocessing.patch_size=[32, 32, 32]",
        "model.channels=[8, 16, 32]",
        "model.strides=[2, 2]",
        "model.num_res_units=1",
        "train.epochs=2",
        "train.val_every=1",
        "evaluate.bootstrap_resamples=200",
        "evaluate.overlay_cases=2",
        f"evaluate.output_dir={root / 'evaluation'}",
        f"tracking.uri=sqlite:///{root / 'mlflow.db'}",
        f"tracking.artifact_location={(root / 'mlruns').as_uri()}",
    ]


@pytest.fixture(autouse=True)
def _never_the_users_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Any code path that reaches MLflow without explicit settings lands in ``tmp_path``."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'guard-mlflow.db'}")
    monkeypatch.delenv("MEDAI_ENV", raising=False)


@pytest.fixture
def tiny_settings(tmp_path: Path) -> CtSegSettings:
    """Development settings pointed at ``tmp_path`` (data, MLflow store, reports)."""
    return BINDING.load(tiny_overrides(tmp_path), environ={})


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
    """A model trained once per test session in a throwaway MLflow store."""

    root: Path
    overrides: list[str]
    settings: CtSegSettings
    result: TrainingResult


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory: pytest.TempPathFactory) -> TrainedModel:
    """Train the tiny configuration once (about half a minute) and register it."""
    from medai.segmentation.training import train  # noqa: PLC0415 - heavy: integration only

    root = tmp_path_factory.mktemp("trained")
    overrides = tiny_overrides(root)
    settings = BINDING.load(overrides, environ={})
    return TrainedModel(root, overrides, settings, train(PROJECT, settings))


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
