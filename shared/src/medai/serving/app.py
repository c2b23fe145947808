"""``create_app``: the FastAPI app every project's inference server is built from.

A project supplies its model loader and its ``/v1`` prediction routes; this module adds
what every server needs and no project should re-invent: health and readiness probes,
metrics, model info, API-key auth, a body limit and a body deadline, request ids and
access logs, one error schema, and docs that require the key like everything else.

The model loads in a background thread so that the liveness probe answers at once and
Kubernetes does not kill a pod that is still reading a large model.
"""

from __future__ import annotations

import json
import logging
import threading
import warnings
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, Literal

from fastapi import APIRouter, Depends, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from prometheus_fastapi_instrumentator import Instrumentator
from pydantic import BaseModel, ConfigDict
from starlette.datastructures import State
from starlette.middleware import Middleware
from starlette.requests import Request

from medai.serving.auth import ApiKeyMiddleware, require_api_key
from medai.serving.body_timeout import BodyTimeoutMiddleware
from medai.serving.bundle import ModelInfoResponse, ServedModel
from medai.serving.deps import ModelDep, not_ready_reason
from medai.serving.errors import ApiError, ErrorResponse, install_error_handlers
from medai.serving.limits import BodyLimitMiddleware
from medai.serving.request_log import RequestLogMiddleware
from medai.serving.settings import ServingSettings, check_startup

__all__ = ["HealthResponse", "ReadyResponse", "ServedModel", "create_app"]

logger = logging.getLogger(__name__)

_MAX_REASON_CHARS = 300
_REF_PREFIX = "#/components/schemas/"

_UNAUTHORIZED: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "Missing or invalid API key."},
}
_NOT_READY: dict[int | str, dict[str, Any]] = {
    503: {"model": ErrorResponse, "description": "The model is loading or failed to load."},
}
_TOO_LARGE: dict[int | str, dict[str, Any]] = {
    413: {"model": ErrorResponse, "description": "The request body is over the size limit."},
}
_MALFORMED_BODY: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "The body is not valid multipart form data."},
    408: {"model": ErrorResponse, "description": "The body arrived too slowly (api limits)."},
}
_INTERNAL: dict[int | str, dict[str, Any]] = {
    500: {"model": ErrorResponse, "description": "Unexpected server error."},
}


class HealthResponse(BaseModel):
    """``GET /health``: the process is alive (says nothing about the model)."""

    model_config = ConfigDict(frozen=True)

    status: Literal["ok"] = "ok"


class ReadyResponse(BaseModel):
    """``GET /ready``: the model is loaded and requests will be served."""

    model_config = ConfigDict(
        frozen=True,
        json_schema_extra={"examples": [{"status": "ready", "model": "ct-seg", "version": "7"}]},
    )

    status: Literal["ready"] = "ready"
    model: str
    version: str


operations_router = APIRouter(tags=["operations"])
model_router = APIRouter(
    prefix="/v1",
    tags=["model"],
    dependencies=[Depends(require_api_key)],
    responses={**_UNAUTHORIZED, **_NOT_READY, **_INTERNAL},
)
docs_router = APIRouter(dependencies=[Depends(require_api_key)], include_in_schema=False)


# HEAD answers like GET (uvicorn drops the body): load balancers probe with HEAD. Kept out
# of the schema, where it would claim a JSON body that a HEAD answer never has.
@operations_router.get("/health", summary="Liveness probe")
@operations_router.head("/health", include_in_schema=False)
async def health() -> HealthResponse:
    """Always 200 while the process runs; open, so probes need no key."""
    return HealthResponse()


@operations_router.get("/ready", summary="Readiness probe", responses=_NOT_READY)
@operations_router.head("/ready", include_in_schema=False)
async def ready(request: Request) -> ReadyResponse:
    """200 once the model is loaded, else 503 ``not_ready`` with the reason; open for probes."""
    model: ServedModel | None = getattr(request.app.state, "model", None)
    if model is None:
        raise ApiError(503, "not_ready", not_ready_reason(request.app.state))
    return ReadyResponse(model=model.card.name, version=model.card.version)


@model_router.get("/model", summary="The served model")
async def model_info(model: ModelDep) -> ModelInfoResponse:
    """Name, version, alias, run and signature of the model answering requests."""
    return ModelInfoResponse.from_card(model.card)


@docs_router.get("/openapi.json")
async def openapi_document(request: Request) -> JSONResponse:
    """The OpenAPI document, behind the API key like the API it describes."""
    return JSONResponse(request.app.openapi())


@docs_router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI for the OpenAPI document (the browser must send the key too)."""
    root_path = str(request.scope.get("root_path", "")).rstrip("/")
    return get_swagger_ui_html(
        openapi_url=f"{root_path}/openapi.json", title=f"{request.app.title} - docs"
    )


class _ServingApp(FastAPI):
    """FastAPI whose OpenAPI document shows the 422 body this app really sends."""

    def openapi(self) -> dict[str, Any]:
        """FastAPI's document with every validation error response using ``ErrorResponse``."""
        schema = super().openapi()
        _document_validation_errors(schema)
        return schema


def _document_validation_errors(schema: dict[str, Any]) -> None:
    """Point FastAPI's generated 422 responses at ``ErrorResponse`` (idempotent).

    FastAPI documents 422 as ``HTTPValidationError`` (``{"detail": [...]}``), but the
    installed handler answers with the one error schema; a schema that lies breaks clients
    generated from it and contract tests.
    """
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    if "ErrorResponse" not in components:
        definition = ErrorResponse.model_json_schema(ref_template=_REF_PREFIX + "{model}")
        components.update(definition.pop("$defs", {}))
        components["ErrorResponse"] = definition
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            response = (
                operation.get("responses", {}).get("422") if isinstance(operation, dict) else None
            )
            if response is None:
                continue
            response["description"] = "Invalid request (the failing fields are named)."
            response["content"] = {
                "application/json": {"schema": {"$ref": _REF_PREFIX + "ErrorResponse"}}
            }
    for name in ("HTTPValidationError", "ValidationError"):  # in this order: one uses the other
        others = {key: value for key, value in components.items() if key != name}
        if _REF_PREFIX + name not in json.dumps([schema.get("paths", {}), others]):
            components.pop(name, None)


def _one_line(text: str) -> str:
    """``text`` on one line, capped, for a log line and the /ready reason."""
    line = " ".join(text.split())
    return line if len(line) <= _MAX_REASON_CHARS else line[: _MAX_REASON_CHARS - 3] + "..."


def _load_model_into(state: State, load_model: Callable[[], ServedModel]) -> None:
    """Run the project's loader and publish the model on ``state`` (a worker thread).

    Failures are logged with type and message: a loading error is about files and the
    registry, not patient data, and the operator needs the message to fix it.
    """
    try:
        model = load_model()
        card = model.card
    except Exception as exc:  # noqa: BLE001 - any failure keeps /ready at 503 with the reason
        reason = _one_line(f"{type(exc).__name__}: {exc}")
        state.model_error = reason
        logger.error("model failed to load: %s", reason)  # noqa: TRY400 - one line by design
        return
    state.model_card = card  # before ``model``: whoever sees the model sees its card
    state.model = model
    logger.info("model %s version %s loaded", card.name, card.version)


def _lifespan(
    load_model: Callable[[], ServedModel],
) -> Callable[[FastAPI], Any]:
    """A lifespan that starts loading the model without waiting for it."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if app.state.model is None and app.state.model_error is None:
            loader = threading.Thread(
                target=_load_model_into,
                args=(app.state, load_model),
                name="medai-model-loader",
                daemon=True,  # a half-loaded model must not block shutdown
            )
            app.state.model_loader = loader
            loader.start()
        yield

    return lifespan


def create_app(
    *,
    title: str,
    version: str,
    settings: ServingSettings,
    load_model: Callable[[], ServedModel],
    routers: Sequence[APIRouter],
    middleware: Sequence[Middleware] = (),
    description: str = "",
) -> FastAPI:
    """Build a project's inference server around its model loader, routes and middleware.

    Args:
        title: The API title in the OpenAPI document, e.g. ``"ct-seg inference"``.
        version: The API version (of the server code, not of the model).
        settings: Host, limits, environment and API keys.
        load_model: Loads the model; called once, in a background thread, at startup.
        routers: The project's routes (its ``POST /v1/predict`` and any of its own),
            included in this order after the shared ones; the API key, the 401/413/503
            responses and the error schema are added here.
        middleware: The project's own middleware, outermost first. It runs inside the
            shared stack: after the request id, the key check and the body limits, right
            before the routes, so a refused request never reaches it.
        description: Markdown shown at the top of the docs.

    Returns:
        The app; serve it with uvicorn.

    Raises:
        ServingConfigError: The settings are unsafe (no API key in production or on a
            non-loopback host).
    """
    for warning in check_startup(settings):
        logger.warning(warning)
    # Python warnings from readers (pydicom quotes malformed header values) would go to
    # stderr with the value in them; in a server they are dropped, not printed.
    warnings.filterwarnings("ignore", module=r"pydicom(\..*)?")

    app = _ServingApp(
        title=title,
        version=version,
        description=description,
        lifespan=_lifespan(load_model),
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )
    app.state.settings = settings
    app.state.model = None
    app.state.model_card = None
    app.state.model_error = None

    install_error_handlers(app)
    app.include_router(operations_router)
    app.include_router(model_router)
    for router in routers:
        app.include_router(
            router,
            dependencies=[Depends(require_api_key)],
            responses={**_MALFORMED_BODY, **_UNAUTHORIZED, **_TOO_LARGE, **_NOT_READY, **_INTERNAL},
        )
    app.include_router(docs_router)

    # Each add_middleware wraps the previous ones: the last added runs first.
    Instrumentator(excluded_handlers=["/metrics", "/health", "/ready"]).instrument(app).expose(
        app,
        endpoint="/metrics",
        tags=["operations"],
        summary="Prometheus metrics",
        response_class=PlainTextResponse,
        dependencies=[Depends(require_api_key)],
        # Spelled out: with a "model", FastAPI would document the 401 as text/plain too.
        responses={
            401: {
                "description": _UNAUTHORIZED[401]["description"],
                "content": {
                    "application/json": {"schema": {"$ref": _REF_PREFIX + "ErrorResponse"}}
                },
            }
        },
    )
    # So the order is: request id and access line, then the key (from the headers, before
    # any body is read), then the body's size limit and deadline, then the project's own
    # middleware, then the routes.
    for entry in reversed(middleware):
        app.add_middleware(entry.cls, *entry.args, **entry.kwargs)
    app.add_middleware(
        BodyTimeoutMiddleware,
        idle_timeout_s=settings.body_idle_timeout_s,
        min_bytes_per_s=settings.body_min_bytes_per_s,
    )
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(ApiKeyMiddleware, keys=settings.api_keys)
    app.add_middleware(RequestLogMiddleware)
    return app
