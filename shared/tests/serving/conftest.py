"""A dummy model and prediction router, apps built from them, and a real uvicorn for them."""

from __future__ import annotations

import json
import socket
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

import pytest
import uvicorn
from fastapi import APIRouter, File, Query, Request, UploadFile

with warnings.catch_warnings():
    # Starlette 1.x asks for httpx2 in its TestClient; the workspace pins httpx for now.
    # Scoped to this one import so that every other deprecation still fails the tests.
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette\.testclient`")
    from fastapi.testclient import TestClient

from medai.serving import ModelCard, ModelDep, ServingSettings, create_app
from medai.serving.launch import HTTP_PROTOCOL

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
        routers=[predict_router],
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


# A real uvicorn, in a thread, with the protocol the launcher starts it with.


@dataclass(frozen=True)
class RawResponse:
    """What came back on a raw socket: the response (if any) and whether the server closed."""

    status: int | None
    headers: dict[str, str]
    body: bytes
    closed: bool
    seconds: float

    def json(self) -> dict[str, object]:
        return json.loads(self.body)


def _parse(data: bytes) -> tuple[int | None, dict[str, str], bytes]:
    head, _, body = data.partition(b"\r\n\r\n")
    if not head:
        return None, {}, b""
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


def _complete(data: bytes) -> bool:
    status, headers, body = _parse(data)
    length = headers.get("content-length")
    return status is not None and length is not None and len(body) >= int(length)


@dataclass(frozen=True)
class LiveServer:
    """A started uvicorn serving ``app`` on ``127.0.0.1:port``."""

    app: object
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=5)

    def read(
        self, sock: socket.socket, *, timeout: float = 5.0, until_closed: bool = True
    ) -> RawResponse:
        """Read one response (and, by default, on until the server closes) within ``timeout``."""
        started = time.monotonic()
        data = b""
        closed = False
        while (remaining := timeout - (time.monotonic() - started)) > 0:
            if not until_closed and _complete(data):
                break
            sock.settimeout(remaining)
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            except ConnectionResetError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            data += chunk
        status, headers, body = _parse(data)
        return RawResponse(status, headers, body, closed, time.monotonic() - started)

    def exchange(self, request: bytes, *, timeout: float = 5.0) -> RawResponse:
        """Send ``request`` on a fresh connection and read the answer until it closes."""
        with self.connect() as sock:
            sock.sendall(request)
            return self.read(sock, timeout=timeout)


@pytest.fixture
def live_server():
    """``live_server(**settings)``: serve an app with real uvicorn; stopped after the test."""
    running: list[tuple[uvicorn.Server, threading.Thread]] = []

    def start(**settings) -> LiveServer:
        app = build_app(**settings)
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        config = uvicorn.Config(
            app,
            http=HTTP_PROTOCOL,
            ws="none",
            lifespan="on",
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=2,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
        thread.start()
        running.append((server, thread))
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                pytest.fail("uvicorn did not start")
            time.sleep(0.01)
        wait_until_loaded(app)
        return LiveServer(app=app, port=listener.getsockname()[1])

    yield start
    for server, thread in running:
        server.should_exit = True
        thread.join(timeout=10)
