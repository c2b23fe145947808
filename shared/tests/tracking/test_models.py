"""Logging a network to MLflow: a real log_model into a throwaway store, warnings watched."""

import logging
import platform
import shutil
import warnings

import mlflow
import numpy as np
import pytest
import torch
import yaml
from mlflow.tracking import MlflowClient

from medai.testing import migrated_mlflow_store
from medai.tracking.models import (
    PICKLE_WARNING,
    log_pytorch_model,
    model_environment,
    tensor_signature,
)

MLFLOW_VARIABLES = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLFLOW_RUN_ID")
REQUIREMENTS = [f"torch=={torch.__version__.split('+')[0]}", f"numpy=={np.__version__}"]


class Records(logging.Handler):
    """Keeps every record that reaches it."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def empty_store(tmp_path_factory):
    return migrated_mlflow_store(tmp_path_factory.mktemp("template"))


@pytest.fixture
def store(tmp_path, monkeypatch, empty_store):
    """A fresh SQLite store with local artifacts; MLflow's global state is reset after."""
    for name in MLFLOW_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    shutil.copyfile(empty_store, tmp_path / "mlflow.db")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    experiment = mlflow.create_experiment("models", artifact_location=(tmp_path / "a").as_uri())
    yield experiment
    while mlflow.active_run() is not None:
        mlflow.end_run()
    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)


@pytest.fixture
def mlflow_records():
    """What MLflow logs (its loggers do not propagate to the root, so caplog misses them)."""
    handler = Records()
    logger = logging.getLogger("mlflow")
    logger.addHandler(handler)
    yield handler.records
    logger.removeHandler(handler)


def _log_tiny_network(experiment: str):
    network = torch.nn.Sequential(torch.nn.Linear(3, 2)).eval()
    with mlflow.start_run(experiment_id=experiment):
        return log_pytorch_model(
            network,
            signature=tensor_signature((-1, 3), (-1, 2)),
            input_example=np.zeros((2, 3), dtype=np.float32),
            pip_requirements=REQUIREMENTS,
            registered_model_name="tiny",
        )


def test_logging_a_network_warns_about_nothing(store, mlflow_records):
    with warnings.catch_warnings(record=True) as python_warnings:
        warnings.simplefilter("always")
        info = _log_tiny_network(store)

    loud = [f"{r.name}: {r.getMessage()}" for r in mlflow_records if r.levelno >= logging.WARNING]
    assert loud == []
    assert [str(w.message) for w in python_warnings] == []
    assert str(info.registered_model_version) == "1"


def test_the_model_records_the_pinned_requirements_and_loads_back(store, tmp_path):
    info = _log_tiny_network(store)

    folder = mlflow.artifacts.download_artifacts(info.model_uri, dst_path=str(tmp_path / "dl"))
    conda = yaml.safe_load((tmp_path / "dl" / "conda.yaml").read_text())
    requirements = (tmp_path / "dl" / "requirements.txt").read_text().splitlines()
    assert requirements == [f"mlflow=={mlflow.__version__}", *REQUIREMENTS]
    assert conda["dependencies"] == [
        f"python={platform.python_version()}",
        "pip",
        {"pip": requirements},
    ]
    loaded = mlflow.pytorch.load_model(folder, map_location="cpu")
    assert isinstance(loaded, torch.nn.Sequential)  # the class itself: pickled, not pt2
    assert MlflowClient().get_model_version("tiny", "1").source == info.model_uri


def test_only_the_pickle_warning_is_dropped_and_only_while_saving(store, mlflow_records):
    pytorch_logger = logging.getLogger("mlflow.pytorch")
    _log_tiny_network(store)

    pytorch_logger.warning("%s: said outside log_pytorch_model", PICKLE_WARNING)

    messages = [r.getMessage() for r in mlflow_records if r.levelno >= logging.WARNING]
    assert messages == [f"{PICKLE_WARNING}: said outside log_pytorch_model"]
    assert pytorch_logger.filters == []


def test_the_environment_pins_mlflow_this_python_and_the_requirements():
    environment = model_environment(["torch==2.0.0"])

    python, pip, packages = environment["dependencies"]
    assert python.startswith("python=3.")
    assert pip == "pip"
    assert packages == {"pip": [f"mlflow=={mlflow.__version__}", "torch==2.0.0"]}
    assert environment["channels"] == ["conda-forge"]
