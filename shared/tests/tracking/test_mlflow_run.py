import dataclasses
import hashlib
import http.server
import shutil
import socket
import threading
import time
from pathlib import Path
from typing import Any

import mlflow
import pytest
import yaml
from mlflow.tracking import MlflowClient

from medai.config import (
    DockerSettings,
    LoggingSettings,
    ProjectSettings,
    Section,
    TrackingSettings,
    settings_hash,
)
from medai.data import build_manifest
from medai.serving.bundle import ModelBundle, write_bundle
from medai.testing import migrated_mlflow_store
from medai.tracking.errors import ModelNotFoundError, TrackingUnavailableError
from medai.tracking.materialize import materialize
from medai.tracking.model_choice import ModelRequest
from medai.tracking.publish import label_new_version
from medai.tracking.registry import ONNX_ARTIFACT_TAG, resolve_alias, set_alias, tag_version
from medai.tracking.runs import tracked_run
from medai.tracking.store import (
    check_server,
    configure_tracking,
    ensure_experiment,
    experiment_artifact_location,
)

pytestmark = pytest.mark.integration

LOCK = b"version = 1\nrequires-python = '>=3.11'\n"
MLFLOW_VARIABLES = (
    "MLFLOW_TRACKING_URI",
    "MLFLOW_REGISTRY_URI",
    "MLFLOW_EXPERIMENT_NAME",
    "MLFLOW_EXPERIMENT_ID",
    "MLFLOW_RUN_ID",
)


class TrainSettings(Section):
    epochs: int = 3
    lr: float = 0.01


class DemoSettings(ProjectSettings):
    train: TrainSettings = TrainSettings()


class Echo(mlflow.pyfunc.PythonModel):
    def predict(self, model_input: list[str], params: dict[str, Any] | None = None) -> list[str]:  # noqa: ARG002
        return model_input


@pytest.fixture(scope="module")
def empty_store(tmp_path_factory):
    """An MLflow SQLite store with its tables created: migrating one takes seconds, copying not."""
    return migrated_mlflow_store(tmp_path_factory.mktemp("template"))


@pytest.fixture
def settings(tmp_path, monkeypatch, empty_store):
    """Settings pointing at a fresh store in tmp_path; MLflow's global state is reset after."""
    for name in MLFLOW_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # MLflow reads and writes relative to the working directory
    shutil.copyfile(empty_store, tmp_path / "mlflow.db")
    tracking = TrackingSettings(
        uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
        artifact_location=(tmp_path / "mlruns").as_uri(),
    )
    yield DemoSettings(
        project="demo",
        environment="test",
        tracking=tracking,
        logging=LoggingSettings(json=True),
        docker=DockerSettings(image="demo:1"),
    )
    while mlflow.active_run() is not None:
        mlflow.end_run()
    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)


@pytest.fixture
def repo(tmp_path, monkeypatch, git):
    """A clean git checkout holding a uv.lock, standing in for the monorepo root."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "no-global-gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    root = tmp_path / "repo"
    root.mkdir()
    (root / "uv.lock").write_bytes(LOCK)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "uv.lock")
    git(root, "commit", "-q", "-m", "lock")
    return root


@pytest.fixture
def manifest(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "case_0.nii.gz").write_bytes(b"image 0")
    (data / "case_1.nii.gz").write_bytes(b"image 1")
    return build_manifest("demo-data", data, ["case_0.nii.gz", "case_1.nii.gz"])


def test_tracked_run_records_lineage_config_params_and_data(
    tmp_path, settings, repo, manifest, git
):
    with tracked_run(
        settings, repo, run_name="first", manifest=manifest, extra_tags={"team": "ct"}
    ) as (run, lineage):
        run_id = run.info.run_id

    client = MlflowClient()
    stored = client.get_run(run_id)
    tags = stored.data.tags
    assert stored.info.status == "FINISHED"
    assert stored.info.run_name == "first"
    assert tags["medai.git_commit"] == git(repo, "rev-parse", "HEAD")
    assert tags["medai.git_dirty"] == "false"
    assert tags["medai.git_branch"] == "main"
    assert tags["medai.config_hash"] == settings_hash(settings)
    assert tags["medai.data_hash"] == manifest.digest
    assert tags["medai.uv_lock_hash"] == hashlib.sha256(LOCK).hexdigest()
    assert tags["medai.project"] == "demo"
    assert tags["medai.environment"] == "test"
    assert tags["medai.run_kind"] == "training"
    assert tags["team"] == "ct"
    assert lineage.tags().items() <= tags.items()

    experiment = client.get_experiment(stored.info.experiment_id)
    assert experiment.name == "demo"
    # one folder per experiment under the configured artifact root
    assert experiment.artifact_location == f"{settings.tracking.artifact_location}/demo"

    config = mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path="config/resolved.yaml", dst_path=str(tmp_path / "download")
    )
    with open(config, encoding="utf-8") as handle:  # noqa: PTH123 - MLflow returns a str path
        assert DemoSettings.model_validate(yaml.safe_load(handle)) == settings
    assert list((tmp_path / "mlruns").rglob("resolved.yaml"))

    params = stored.data.params
    assert params["project"] == "demo"
    assert params["train.epochs"] == "3"
    assert params["train.lr"] == "0.01"
    assert params["logging.json"] == "true"
    assert params["tracking.uri"] == settings.tracking.uri
    assert params["docker.registry"] == "null"

    (dataset_input,) = stored.inputs.dataset_inputs
    assert dataset_input.dataset.name == "demo-data"
    assert dataset_input.dataset.digest == manifest.digest[:20]
    assert {t.key: t.value for t in dataset_input.tags}["mlflow.data.context"] == "training"
    artifacts = [a.path for a in client.list_artifacts(run_id, "data")]
    assert artifacts == ["data/training_manifest.json"]


def test_run_without_a_manifest_tags_data_hash_none(settings, repo):
    with tracked_run(settings, repo, context="evaluation") as (run, _):
        run_id = run.info.run_id

    stored = MlflowClient().get_run(run_id)
    assert stored.data.tags["medai.data_hash"] == "none"
    assert stored.data.tags["medai.run_kind"] == "evaluation"
    assert stored.inputs.dataset_inputs == []


def _failing_run(settings, repo, manifest, started):
    with tracked_run(settings, repo, manifest=manifest) as (run, _):
        started.append(run.info.run_id)
        raise RuntimeError("boom")


def test_run_that_raises_ends_failed_and_the_error_propagates(settings, repo, manifest):
    started = []

    with pytest.raises(RuntimeError, match="boom"):
        _failing_run(settings, repo, manifest, started)

    (run_id,) = started
    assert MlflowClient().get_run(run_id).info.status == "FAILED"
    assert mlflow.active_run() is None


def test_deleted_experiment_is_restored_and_reused(settings, repo):
    with tracked_run(settings, repo) as (run, _):
        experiment_id = run.info.experiment_id
    MlflowClient().delete_experiment(experiment_id)

    assert ensure_experiment("demo", None) == experiment_id
    assert MlflowClient().get_experiment(experiment_id).lifecycle_stage == "active"


def log_demo_model():
    """Log the tiny pyfunc model to the active run and register it as ``demo``."""
    return mlflow.pyfunc.log_model(
        name="model", python_model=Echo(), registered_model_name="demo", pip_requirements=["mlflow"]
    )


def test_a_version_that_cannot_be_labelled_is_taken_back_and_the_challenger_kept(
    settings, repo, monkeypatch
):
    with tracked_run(settings, repo):
        info = log_demo_model()
    label_new_version("demo", str(info.registered_model_version), {"medai.kind": "demo"})
    second = mlflow.register_model(info.model_uri, "demo")

    def server_gone(*_args: object) -> None:
        raise ConnectionError("tracking server went away")

    monkeypatch.setattr("medai.tracking.publish.set_alias", server_gone)
    with pytest.raises(ConnectionError, match="went away"):
        label_new_version("demo", str(second.version), {"medai.kind": "demo"})

    client = MlflowClient()
    assert [str(v.version) for v in client.search_model_versions("name='demo'")] == ["1"]
    assert str(client.get_model_version_by_alias("demo", "challenger").version) == "1"
    assert client.get_model_version("demo", "1").tags["medai.kind"] == "demo"


def test_registry_aliases_resolve_champion_before_challenger(settings, repo):
    with tracked_run(settings, repo) as (run, lineage):
        info = log_demo_model()
        run_id = run.info.run_id
    second = mlflow.register_model(info.model_uri, "demo")
    # MLflow types versions as str but returns int from some calls: compare as str.
    assert (str(info.registered_model_version), str(second.version)) == ("1", "2")

    with pytest.raises(ModelNotFoundError) as caught:
        resolve_alias("demo")
    assert str(caught.value) == (
        "registered model 'demo' has no version with alias champion, challenger; train one first"
    )

    set_alias("demo", "challenger", 1)
    alias, version = resolve_alias("demo")
    assert (alias, str(version.version), version.run_id) == ("challenger", "1", run_id)

    set_alias("demo", "champion", "2")
    alias, version = resolve_alias("demo")
    assert (alias, str(version.version)) == ("champion", "2")
    assert str(resolve_alias("demo", ["challenger"])[1].version) == "1"

    tag_version("demo", 1, lineage.tags())
    stored_tags = MlflowClient().get_model_version("demo", "1").tags
    assert stored_tags["medai.config_hash"] == settings_hash(settings)
    assert lineage.tags().items() <= stored_tags.items()


@pytest.mark.parametrize(
    ("name", "aliases", "message"),
    [
        ("demo", ("staging",), "registered model 'demo' has no version with alias staging;"),
        (
            "absent",
            ("champion", "challenger"),
            "registered model 'absent' has no version with alias champion, challenger;",
        ),
    ],
)
def test_model_not_found_names_the_model_and_every_alias_tried(settings, name, aliases, message):
    configure_tracking(settings.tracking, Path.cwd())
    MlflowClient().create_registered_model("demo")

    with pytest.raises(ModelNotFoundError) as caught:
        resolve_alias(name, aliases)

    assert str(caught.value) == f"{message} train one first"


def test_each_experiment_gets_its_own_artifact_folder_under_the_root():
    root = "file:///repo/mlruns/"
    assert experiment_artifact_location(root, "ct-seg") == "file:///repo/mlruns/ct-seg"
    assert experiment_artifact_location(root, "my exp/../x") == "file:///repo/mlruns/my-exp-..-x"
    assert experiment_artifact_location(None, "ct-seg") is None


def test_materialize_writes_onnx_and_card_and_refuses_versions_without_onnx(
    settings, repo, tmp_path
):
    onnx_file = tmp_path / "graph.onnx"
    onnx_file.write_bytes(b"not really onnx, but bytes to copy")
    with tracked_run(settings, repo) as (run, _):
        info = log_demo_model()
        mlflow.log_artifact(str(onnx_file), artifact_path="onnx")
    set_alias("demo", "challenger", info.registered_model_version)
    models_root = tmp_path / "models"
    request = ModelRequest.from_settings(settings)

    with pytest.raises(ModelNotFoundError, match=r"demo version 1 has no ONNX export"):
        materialize(request, models_root)
    assert not (models_root / "demo").exists()

    tag_version("demo", 1, {ONNX_ARTIFACT_TAG: "onnx/graph.onnx", "medai.labels": '{"0": "bg"}'})
    bundle = materialize(request, models_root)
    assert bundle.folder == models_root / "demo" / "1"
    assert bundle.onnx_path.read_bytes() == onnx_file.read_bytes()
    assert (bundle.card.name, bundle.card.version, bundle.card.alias) == ("demo", "1", "challenger")
    assert bundle.card.run_id == run.info.run_id
    assert bundle.card.extra["labels"] == {"0": "bg"}

    # Same version behind a new alias: the folder is reused, only the card changes.
    set_alias("demo", "champion", 1)
    again = materialize(request, models_root)
    assert again.card.alias == "champion"
    assert ModelBundle.load(models_root / "demo" / "1").card.alias == "champion"

    # Named by version: the card says no alias, which the server takes as explicit.
    pinned = materialize(ModelRequest.from_settings(settings, version=1), models_root)
    assert (pinned.card.version, pinned.card.alias) == ("1", None)

    # A folder of the same number left by another run (a reset store, a second store
    # sharing the folder) is downloaded again, not served under the new run's card.
    stale = ModelBundle.load(models_root / "demo" / "1")
    write_bundle(
        stale.folder,
        dataclasses.replace(stale.card, run_id="another-store-run"),
        b"another network",
        overwrite=True,
    )
    fresh = materialize(request, models_root)
    assert fresh.card.run_id == run.info.run_id
    assert fresh.onnx_path.read_bytes() == onnx_file.read_bytes()


def test_unreachable_tracking_server_fails_fast_with_one_line():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    started = time.perf_counter()
    with pytest.raises(TrackingUnavailableError, match=rf"http://127.0.0.1:{port} is unreachable"):
        check_server(f"http://127.0.0.1:{port}")
    assert time.perf_counter() - started < 5


def test_a_server_that_answers_is_reachable_even_without_health():
    class NotFound(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_error(404)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), NotFound)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        check_server(f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()
