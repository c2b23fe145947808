"""A project's own routers and middleware: served behind the shared key, after its checks."""

from __future__ import annotations

import pytest
from fastapi import APIRouter
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Receive, Scope, Send

from medai.serving import ServingSettings, create_app
from medai.serving.project_app import check_routes

from .conftest import API_KEY, DummyModel, predict_router, wait_until_loaded

with_own_route = APIRouter(prefix="/v1", tags=["project"])


@with_own_route.get("/regions")
async def regions() -> dict[str, list[str]]:
    return {"regions": ["whole_tumor", "tumor_core"]}


class RecordingMiddleware:
    """Counts the requests it sees and stamps its answers: proves where it runs."""

    def __init__(self, app: ASGIApp, seen: list[str], header: bytes) -> None:
        self.app, self.seen, self.header = app, seen, header

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.seen.append(f"{self.header.decode()} {scope['path']}")

        async def stamped(message: dict[str, object]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))  # type: ignore[call-overload]
                headers.append((b"x-seen-by", self.header))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, stamped)


def keyed_app(seen: list[str]):
    from fastapi.testclient import TestClient  # noqa: PLC0415 - after conftest's filter

    app = create_app(
        title="project",
        version="1",
        settings=ServingSettings(api_keys=(API_KEY,)),
        load_model=DummyModel,
        routers=[predict_router, with_own_route],
        middleware=[
            Middleware(RecordingMiddleware, seen=seen, header=b"outer"),
            Middleware(RecordingMiddleware, seen=seen, header=b"inner"),
        ],
    )
    client = TestClient(app)
    client.__enter__()
    wait_until_loaded(app)
    return client


def test_a_project_route_is_served_behind_the_key() -> None:
    client = keyed_app([])
    try:
        assert client.get("/v1/regions").status_code == 401
        answer = client.get("/v1/regions", headers={"X-API-Key": API_KEY})
        assert answer.status_code == 200
        assert answer.json() == {"regions": ["whole_tumor", "tumor_core"]}
        document = client.get("/openapi.json", headers={"X-API-Key": API_KEY}).json()
        assert "401" in document["paths"]["/v1/regions"]["get"]["responses"]
    finally:
        client.__exit__(None, None, None)


def test_project_middleware_runs_in_order_and_only_after_the_key_check() -> None:
    seen: list[str] = []
    client = keyed_app(seen)
    try:
        refused = client.post("/v1/predict", content=b"x" * 10)
        assert refused.status_code == 401
        assert "x-seen-by" not in refused.headers
        assert seen == []  # a refused request never reaches the project's middleware

        answer = client.post("/v1/predict", content=b"abc", headers={"X-API-Key": API_KEY})
        assert answer.status_code == 200
        assert answer.json()["bytes"] == 3
        assert seen == ["outer /v1/predict", "inner /v1/predict"]
        # The inner stamp is added first on the way out, then the outer one.
        assert answer.headers.get_list("x-seen-by") == ["inner", "outer"]
    finally:
        client.__exit__(None, None, None)


def test_a_route_given_twice_is_refused_naming_it() -> None:
    twice = APIRouter(prefix="/v1")

    @twice.post("/predict")
    async def other() -> None:  # pragma: no cover - never served
        return None

    with pytest.raises(ValueError, match=r"POST /v1/predict is served twice"):
        check_routes([predict_router, twice])


def test_a_route_shadowing_a_shared_probe_is_refused() -> None:
    shadow = APIRouter()

    @shadow.get("/health")
    async def health() -> None:  # pragma: no cover - never served
        return None

    with pytest.raises(ValueError, match=r"GET /health is served twice"):
        check_routes([shadow])


def test_a_server_without_routers_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one router"):
        check_routes([])
