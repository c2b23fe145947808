"""A dummy model and prediction router, and a factory for apps built from them."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

import pytest
from fastapi import APIRouter, File, Query, Request, UploadFile

with warnings.catch_warnings():
    # Starlette 1.x asks for httpx2 in its TestClient; the workspace pins httpx for now.
    # Scoped to this one import so that every other deprecation still fails the tests.
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette\.testclient`")
    from fastapi.testclient import TestClient

from medai.serving import ModelCard, ModelDep, ServingSettings, create_app

API_KEY = "test-key-0123456789abcdef"
OTHER_KEY = "other-key-0123456789abcdef"

CARD = ModelCard(
    name="dummy",
    version="3",
    alias="champion",
    run_id="0123456789abcdef",
    signature={"inputs": [{"type": "tensor", "dtype": "float32", "shape": [-1, 1]}]},
    tags={"git_commit": "abc1234"},
    extra={"labels": ["background", "organ"]},
)


@dataclass(frozen=True)
class DummyModel:
    card: ModelCard = CARD


predict_router = APIRouter(prefix="/v1", tags=["predict"])


@predict_router.post("/predict")
async def predict(request: Request, model: ModelDep) -> dict[str, int | str]:
    body = await request.body()
    return {"bytes": len(body), "model": model.card.name}


@predict_router.post("/upload")
async def upload(file: Annotated[UploadFile, File()], model: ModelDep) -> dict[str, int | str]:
    data = await file.read()
    return {"bytes": len(data), "model": model.card.name}


@predict_router.get("/echo")
async def echo(threshold: Annotated[float, Query()]) -> dict[str, float]:
    return {"threshold": threshold}


@predict_router.get("/boom")
async def boom() -> dict[str, str]:
    msg = "PatientName^Secret could not be segmented"
    raise RuntimeError(msg)


def build_app(
    load_model: Callable[[], DummyModel] = DummyModel,
    **settings: object,
):
    return create_app(
        title="dummy inference",
        version="1.0.0",
        settings=ServingSettings.model_validate(settings),
        load_model=load_model,
        predict_router=predict_router,
        description="A test server.",
    )


def wait_until_loaded(app, timeout: float = 5.0) -> None:
    """Wait for the background loader thread (started by entering the TestClient)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if app.state.model is not None or app.state.model_error is not None:
            return
        time.sleep(0.005)
    pytest.fail("the model loader did not finish in time")


@pytest.fixture
def make_client():
    """Start an app (lifespan included) with the given settings and return its client."""
    clients: list[TestClient] = []

    def make(*, load_model=DummyModel, wait: bool = True, **settings) -> TestClient:
        app = build_app(load_model, **settings)
        client = TestClient(app)
        client.__enter__()
        clients.append(client)
        if wait:
            wait_until_loaded(app)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client) -> TestClient:
    """A ready app without API keys, on loopback in development."""
    return make_client()


@pytest.fixture
def keyed_client(make_client) -> TestClient:
    """A ready app that requires API_KEY or OTHER_KEY."""
    return make_client(api_keys=(API_KEY, OTHER_KEY))


def _expect_error(response, status: int, code: str) -> dict[str, object]:
    """Check the one error schema and return its inner object."""
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"status", "code", "message", "request_id"}
    assert error["status"] == status
    assert error["code"] == code
    assert isinstance(error["message"], str)
    assert error["message"]
    assert "\n" not in error["message"]
    assert error["request_id"] == response.headers["x-request-id"]
    return error


@pytest.fixture
def expect_error():
    """``expect_error(response, status, code)``: assert the error schema, return ``error``."""
    return _expect_error


@pytest.fixture
def api_key() -> str:
    return API_KEY


@pytest.fixture
def other_key() -> str:
    return OTHER_KEY


@pytest.fixture
def make_app():
    """``make_app(load_model=..., **settings)``: build an app without starting it."""
    return build_app


@pytest.fixture
def wait_loaded():
    """``wait_loaded(app)``: wait for the background model loader to finish."""
    return wait_until_loaded


@pytest.fixture
def dummy_model() -> DummyModel:
    return DummyModel()
