"""A project's server is built from its config: model folder, backend loader, API keys."""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import APIRouter

from medai.config import ProjectSettings
from medai.project import ProjectBinding
from medai.serving import ModelCard, ModelDep, write_bundle
from medai.serving.project_app import create_project_app

with warnings.catch_warnings():
    # Starlette asks for httpx2 in its TestClient; scoped to this one import.
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette\.testclient`")
    from fastapi.testclient import TestClient

KEY = "project-app-key-0123456789"

router = APIRouter(prefix="/v1", tags=["prediction"])


@router.get("/echo")
async def echo(model: ModelDep) -> dict[str, str]:
    return {"model": model.card.name}


@dataclass(frozen=True)
class Loaded:
    card: ModelCard
    model_dir: Path
    settings: ProjectSettings


def load_onnx(model_dir: Path, settings: ProjectSettings) -> Loaded:
    return Loaded(ModelCard(name=settings.project, version="5"), model_dir, settings)


@pytest.fixture
def binding(tmp_path) -> ProjectBinding[ProjectSettings]:
    (tmp_path / "pyproject.toml").write_text("[tool.uv.workspace]\n", encoding="utf-8")
    configs = tmp_path / "projects" / "app-demo" / "configs"
    configs.mkdir(parents=True)
    (configs / "base.yaml").write_text("project: app-demo\ndocker: {image: y}\n", encoding="utf-8")
    (configs / "development.yaml").touch()
    (configs / "production.yaml").touch()
    return ProjectBinding(configs.parent / "src" / "app_demo" / "__init__.py", ProjectSettings)


def build(binding, environ, loaders=None):
    return create_project_app(
        binding,
        version="2.1.0",
        description="Serves a demo model.",
        routers=[router],
        loaders=loaders or {"onnx": load_onnx},
        environ=environ,
    )


def test_the_app_loads_the_configured_folder_with_the_backend_loader(binding, tmp_path):
    model_dir = tmp_path / "models" / "app-demo" / "5"
    app = build(binding, {"MEDAI__API__MODEL_DIR": str(model_dir), "MEDAI_API_KEYS": KEY})

    with TestClient(app) as client:
        for _ in range(200):
            if client.get("/ready").status_code == 200:
                break
            time.sleep(0.01)
        headers = {"X-API-Key": KEY}
        assert client.get("/v1/echo").status_code == 401
        assert client.get("/v1/echo", headers=headers).json() == {"model": "app-demo"}
        info = client.get("/openapi.json", headers=headers).json()["info"]

    loaded = app.state.model
    assert loaded.model_dir == model_dir
    assert loaded.settings.environment == "development"
    assert info == {
        "title": "app-demo inference",
        "version": "2.1.0",
        "description": "Serves a demo model.",
    }


def test_without_a_model_folder_it_exits_with_one_line_naming_the_command(binding):
    with pytest.raises(SystemExit) as caught:
        build(binding, {})
    assert str(caught.value.code).startswith(
        "error: api.model_dir: not set: run `uv run invoke serve --project=app-demo`"
    )
    assert "\n" not in str(caught.value.code)


def test_a_backend_without_a_loader_is_refused(binding, tmp_path):
    environ = {"MEDAI__API__MODEL_DIR": str(tmp_path), "MEDAI__API__BACKEND": "torch"}
    with pytest.raises(
        SystemExit, match=r"^error: .*'torch': app-demo serves with one of \['onnx'\]"
    ):
        build(binding, environ)


def test_production_without_an_api_key_refuses_to_build(binding, tmp_path):
    environ = {"MEDAI_ENV": "production", "MEDAI__API__MODEL_DIR": str(tmp_path)}
    with pytest.raises(SystemExit, match=r"^error: .*production needs at least one API key"):
        build(binding, environ)


def test_a_config_error_is_one_line_not_a_traceback(binding):
    with pytest.raises(SystemExit, match=r"^error: environment variable MEDAI_ENV: unknown"):
        build(binding, {"MEDAI_ENV": "staging"})


def test_the_loader_for_the_configured_backend_is_used(binding, tmp_path):
    used = []

    def load_torch(model_dir: Path, settings: ProjectSettings) -> Loaded:
        used.append(settings.api.backend)
        return load_onnx(model_dir, settings)

    environ = {"MEDAI__API__MODEL_DIR": str(tmp_path), "MEDAI__API__BACKEND": "torch"}
    app = build(binding, environ, {"onnx": load_onnx, "torch": load_torch})
    with TestClient(app) as client:
        for _ in range(200):
            if client.get("/ready").status_code == 200:
                break
            time.sleep(0.01)
    assert used == ["torch"]


def write_card(folder: Path, alias: str | None) -> Path:
    write_bundle(folder, ModelCard(name="app-demo", version="7", alias=alias), b"onnx bytes")
    return folder


def test_production_refuses_a_folder_holding_a_fallback_version_with_one_line(binding, tmp_path):
    folder = write_card(tmp_path / "models" / "app-demo" / "7", "challenger")
    environ = {"MEDAI_ENV": "production", "MEDAI_API_KEYS": KEY}
    environ["MEDAI__API__MODEL_DIR"] = str(folder)
    with pytest.raises(SystemExit) as caught:
        build(binding, environ)
    assert caught.value.code == (
        f"error: production serves only the champion: {folder} holds app-demo version 7 "
        "through alias 'challenger'; materialize the champion with `uv run invoke serve "
        "--materialize-only`, or name that alias with MEDAI__API__MODEL_ALIAS=challenger"
    )


@pytest.mark.parametrize(
    ("alias", "extra"),
    [
        ("champion", {}),
        (None, {}),  # materialized by --version
        ("challenger", {"MEDAI__API__MODEL_ALIAS": "challenger"}),  # serve --alias challenger
    ],
)
def test_production_serves_a_folder_whose_version_was_named_or_promoted(
    binding, tmp_path, alias, extra
):
    folder = write_card(tmp_path / "models" / "app-demo" / "7", alias)
    environ = {"MEDAI_ENV": "production", "MEDAI_API_KEYS": KEY}
    environ["MEDAI__API__MODEL_DIR"] = str(folder)
    assert build(binding, {**environ, **extra}).title == "app-demo inference"
