"""`serve` materializes only what the environment allows: the champion, or what is named."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from medai.cli import serve_main
from medai.config import ProjectSettings
from medai.project import ProjectBinding
from medai.serving.bundle import ModelBundle
from medai.testing import migrated_mlflow_store
from medai.tracking.registry import ONNX_ARTIFACT_TAG, VALIDATION_METRIC_TAG

pytestmark = pytest.mark.integration

APP = "cli_demo.api.main:create_app"
KEY = "cli-model-choice-key-0123456789"


class Echo(mlflow.pyfunc.PythonModel):
    def predict(self, model_input: list[str], params: dict[str, Any] | None = None) -> list[str]:  # noqa: ARG002
        return model_input


@pytest.fixture(scope="module")
def challenger_store(tmp_path_factory) -> Path:
    """A store whose only version of ``cli-demo`` is the challenger (Dice 0.031, ONNX tagged)."""
    folder = tmp_path_factory.mktemp("store")
    store = migrated_mlflow_store(folder)
    mlflow.set_tracking_uri(f"sqlite:///{store}")
    mlflow.set_registry_uri(f"sqlite:///{store}")
    try:
        client = MlflowClient()
        experiment = client.create_experiment("cli-demo", (folder / "mlruns").as_uri())
        onnx = folder / "model.onnx"
        onnx.write_bytes(b"graph bytes")
        with mlflow.start_run(experiment_id=experiment):
            mlflow.log_metric("best_val_dice_mean", 0.0312)
            mlflow.log_artifact(str(onnx), artifact_path="onnx")
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=Echo(),
                registered_model_name="cli-demo",
                pip_requirements=["mlflow"],
            )
        version = str(info.registered_model_version)
        client.set_model_version_tag("cli-demo", version, ONNX_ARTIFACT_TAG, "onnx/model.onnx")
        client.set_model_version_tag(
            "cli-demo", version, VALIDATION_METRIC_TAG, "best_val_dice_mean"
        )
        client.set_registered_model_alias("cli-demo", "challenger", version)
    finally:
        mlflow.set_tracking_uri(None)
        mlflow.set_registry_uri(None)
    return store


@pytest.fixture
def binding(tmp_path, monkeypatch) -> ProjectBinding[ProjectSettings]:
    """Project ``cli-demo`` in a monorepo under ``tmp_path``, with an API key for production."""
    monkeypatch.delenv("MEDAI_ENV", raising=False)
    monkeypatch.delenv("MEDAI_API_KEYS_FILE", raising=False)
    monkeypatch.setenv("MEDAI_API_KEYS", KEY)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'guard.db'}")
    (tmp_path / "pyproject.toml").write_text("[tool.uv.workspace]\n", encoding="utf-8")
    configs = tmp_path / "projects" / "cli-demo" / "configs"
    configs.mkdir(parents=True)
    (configs / "base.yaml").write_text("project: cli-demo\ndocker: {image: x}\n", encoding="utf-8")
    for environment in ("development", "production"):
        (configs / f"{environment}.yaml").touch()
    yield ProjectBinding(configs.parent / "src" / "cli_demo" / "__init__.py", ProjectSettings)
    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)


@pytest.fixture
def production(binding, monkeypatch):
    """``MEDAI_ENV=production`` (after ``binding``, which clears it)."""
    del binding
    monkeypatch.setenv("MEDAI_ENV", "production")


@pytest.fixture
def options(tmp_path, challenger_store) -> list[str]:
    """``--materialize-only`` on a copy of the store, writing under ``tmp_path/models``."""
    shutil.copyfile(challenger_store, tmp_path / "mlflow.db")
    return [
        "--materialize-only",
        "--set",
        f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}",
        "--set",
        f"api.models_root={tmp_path / 'models'}",
    ]


@pytest.mark.usefixtures("production")
def test_production_with_only_a_challenger_refuses_with_one_line_and_writes_nothing(
    binding, options, tmp_path, capsys
):
    assert serve_main(binding, APP, options) == 2

    captured = capsys.readouterr()
    assert captured.err == (
        "error: production serves only the champion; cli-demo has no champion (challenger "
        "version 1 is not promoted): promote one with `uv run invoke deploy "
        "--project=cli-demo`, or name one with --alias/--version\n"
    )
    assert captured.out == ""
    assert not (tmp_path / "models").exists()


def test_development_serves_the_challenger_saying_loudly_which_and_how_good(
    binding, options, tmp_path, capsys
):
    assert serve_main(binding, APP, options) == 0

    captured = capsys.readouterr()
    assert (
        "WARNING: no champion for cli-demo; serving challenger version 1 "
        "(best_val_dice_mean 0.031) - not promoted by `invoke deploy`\n"
    ) in captured.err
    folder = tmp_path / "models" / "cli-demo" / "1"
    assert captured.out == f"model folder: {folder.resolve()}\n"
    assert ModelBundle.load(folder).card.alias == "challenger"


@pytest.mark.parametrize(
    ("named", "card_alias"), [(["--alias", "challenger"], "challenger"), (["--version", "1"], None)]
)
@pytest.mark.usefixtures("production")
def test_production_serves_a_version_named_by_alias_or_number_without_warning(
    binding, options, capsys, named, card_alias
):
    assert serve_main(binding, APP, [*options, *named]) == 0

    captured = capsys.readouterr()
    assert "WARNING" not in captured.err
    folder = captured.out.removeprefix("model folder: ").strip()
    assert ModelBundle.load(folder).card.alias == card_alias


@pytest.mark.parametrize(
    "arguments", [["--alias", "challenger", "--version", "1"], ["--version", "0"]]
)
def test_serve_refuses_two_names_or_a_version_that_is_no_number(binding, arguments, capsys):
    with pytest.raises(SystemExit) as caught:
        serve_main(binding, APP, arguments)
    assert caught.value.code == 2
    assert "--version" in capsys.readouterr().err
