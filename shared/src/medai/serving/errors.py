"""One error body for every 4xx/5xx answer, and the handlers that produce it.

A client (or an on-call engineer) should never have to guess the shape of an error:
FastAPI's default ``{"detail": ...}``, Starlette's plain-text 500 and our own errors all
become ``{"error": {"status", "code", "message", "request_id"}}``. Messages and logs never
carry request data: a request may hold a patient's image or name.
"""

from __future__ import annotations

import http
import logging
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import Scope

logger = logging.getLogger(__name__)

REQUEST_ID_KEY = "request_id"
"""Key of the request id in ``scope["state"]`` (read it as ``request.state.request_id``)."""

_MAX_FIELDS_NAMED = 5


class ErrorBody(BaseModel):
    """What went wrong, in a form a program can branch on (``code``) and a person can read."""

    model_config = ConfigDict(frozen=True)

    status: int = Field(description="The HTTP status code, repeated for log shippers.")
    code: str = Field(description="A stable snake_case error code, e.g. 'unreadable_image'.")
    message: str = Field(description="One line saying what is wrong; never echoes input data.")
    request_id: str | None = Field(
        default=None, description="The X-Request-ID of this request, to find it in the logs."
    )


class ErrorResponse(BaseModel):
    """The body of every error response; declared in OpenAPI so the schema is true."""

    model_config = ConfigDict(
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "error": {
                        "status": 422,
                        "code": "unreadable_image",
                        "message": "the upload is not a NIfTI file",
                        "request_id": "3f2b9c0e8d7a4e55b1c2d3e4f5a6b7c8",
                    }
                }
            ]
        },
    )

    error: ErrorBody


class ApiError(Exception):
    """An error the API reports on purpose, with its status, code and one-line message.

    Raise it from a route or a dependency; the installed handler turns it into the error
    body. The message is shown to the client, so it must not contain request data.
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Store the parts of the error body.

        Args:
            status: HTTP status code (4xx or 5xx).
            code: Stable snake_case code clients can branch on.
            message: One line for a person; whitespace runs are collapsed.
            headers: Extra response headers, e.g. ``WWW-Authenticate`` on a 401.
        """
        self.status = status
        self.code = code
        self.message = " ".join(message.split())
        self.headers = dict(headers or {})
        super().__init__(f"{status} {code}: {self.message}")


def request_id_of(scope: Scope) -> str | None:
    """The request id the request-log middleware stored for this request, if any."""
    state = scope.get("state")
    if isinstance(state, Mapping):
        value = state.get(REQUEST_ID_KEY)
        if isinstance(value, str):
            return value
    return None


def _matchable_routes(routes: Iterable[Any]) -> Iterator[Any]:
    """``routes`` with FastAPI's included routers flattened into their prefixed routes.

    FastAPI keeps an included router as one opaque entry whose ``matches`` says nothing
    about which route matched; its ``effective_route_contexts`` lists them with their full
    path (the same approach as prometheus-fastapi-instrumentator's route naming).
    """
    for route in routes:
        contexts = getattr(route, "effective_route_contexts", None)
        if callable(contexts):
            for context in contexts():
                yield getattr(context, "starlette_route", None) or context
        else:
            yield route


def route_template(scope: Scope) -> str:
    """The matched route's path template (``/v1/items/{id}``), or ``"unmatched"``.

    Logs use the template, never the raw path: a path parameter may be a patient id.
    A request answered before routing (the body limit) is matched here, without side
    effects, against the app's routes.
    """
    route = scope.get("route")
    if route is None:
        for candidate in _matchable_routes(getattr(scope.get("app"), "routes", ())):
            matches = getattr(candidate, "matches", None)
            if callable(matches) and matches(scope)[0] is Match.FULL:
                route = candidate
                break
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    return "unmatched"


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    request_id: str | None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """A JSON response with the error body; also usable as a raw ASGI app by middleware."""
    body = ErrorResponse(
        error=ErrorBody(status=status, code=code, message=message, request_id=request_id)
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=status, headers=headers)


def _status_phrase(status: int) -> str | None:
    """The standard reason phrase of ``status`` ("Not Found"), or None for unknown codes."""
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return None


def status_code_name(status: int) -> str:
    """A snake_case code for an HTTP status: 404 -> ``not_found``, 405 -> ``method_not_allowed``."""
    phrase = _status_phrase(status)
    if phrase is None:
        return "http_error"
    return "_".join(phrase.lower().replace("-", " ").replace("'", "").split())


def internal_error_response(scope: Scope) -> JSONResponse:
    """The 500 answer for an unexpected exception: a generic message, nothing from the error."""
    return error_response(
        500,
        "internal_error",
        "the server failed to handle this request; quote the request id to the operators",
        request_id=request_id_of(scope),
    )


def log_unhandled(exc: BaseException, scope: Scope) -> None:
    """Log an unexpected exception by type and route only.

    Not its message, arguments or traceback: they may hold pixel values, a file name or a
    DICOM header value from the request. The request id lets operators reproduce it.
    """
    logger.error(
        "unhandled %s on %s (request_id=%s)",
        type(exc).__name__,
        route_template(scope),
        request_id_of(scope),
    )


def validation_message(errors: Any) -> str:  # noqa: ANN401 - pydantic's error list is untyped
    """Name the fields that failed validation and how, never the values sent.

    Pydantic's ``msg`` can quote the input (custom validators often do), so only the
    location and the error type are used.
    """
    parts: list[str] = []
    for error in errors if isinstance(errors, list | tuple) else []:
        if not isinstance(error, Mapping):
            continue
        location = ".".join(str(part) for part in error.get("loc", ())) or "request"
        parts.append(f"{location} ({error.get('type', 'invalid')})")
    if not parts:
        return "invalid request"
    named = "; ".join(parts[:_MAX_FIELDS_NAMED])
    more = len(parts) - _MAX_FIELDS_NAMED
    suffix = f"; and {more} more" if more > 0 else ""
    return f"invalid request: {named}{suffix}"


async def _api_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Render an ``ApiError`` raised by a route or dependency."""
    if not isinstance(exc, ApiError):  # pragma: no cover - registered for ApiError only
        raise exc
    return error_response(
        exc.status,
        exc.code,
        exc.message,
        request_id=request_id_of(request.scope),
        headers=exc.headers,
    )


async def _http_exception_handler(request: Request, exc: Exception) -> JSONResponse:
    """Render Starlette's and FastAPI's HTTP errors (404, 405, ...) in the one schema."""
    if not isinstance(exc, StarletteHTTPException):  # pragma: no cover - registered for it
        raise exc
    status = exc.status_code
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail else None
    fallback = _status_phrase(status) or "HTTP error"
    return error_response(
        status,
        status_code_name(status),
        detail or fallback,
        request_id=request_id_of(request.scope),
        headers=exc.headers,
    )


async def _validation_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Render a request that failed validation: 422, naming the fields, not the values."""
    if not isinstance(exc, RequestValidationError):  # pragma: no cover - registered for it
        raise exc
    return error_response(
        422,
        "invalid_request",
        validation_message(exc.errors()),
        request_id=request_id_of(request.scope),
    )


async def _unhandled_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Render any other exception as a generic 500, logging its type and route only."""
    log_unhandled(exc, request.scope)
    return internal_error_response(request.scope)


def install_error_handlers(app: FastAPI) -> None:
    """Make every error ``app`` answers use the ``ErrorResponse`` body.

    The ``Exception`` handler is a fallback: in ``create_app`` the request-log middleware
    catches unexpected exceptions first, so that Starlette does not re-raise them to the
    server, which would print the traceback (and its data) to the log.
    """
    app.add_exception_handler(ApiError, _api_error_handler)
    app.add_exception_handler(StarletteHTTPException, _http_exception_handler)
    app.add_exception_handler(RequestValidationError, _validation_error_handler)
    app.add_exception_handler(Exception, _unhandled_error_handler)
