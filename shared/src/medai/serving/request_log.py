"""Request ids and one access-log line per request, as a pure ASGI middleware.

Pure ASGI rather than ``BaseHTTPMiddleware``: it does not buffer or re-wrap the body (a
request can be a 300 MB CT volume) and exceptions keep their normal path.

The access line holds the route template, status, latency and model; never the raw URL,
query values, headers, file names or bodies, any of which can identify a patient.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from medai.serving.errors import (
    REQUEST_ID_KEY,
    internal_error_response,
    log_unhandled,
    route_template,
)

REQUEST_ID_HEADER = "X-Request-ID"
ACCESS_LOGGER = "medai.serving.access"

_REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")

access_logger = logging.getLogger(ACCESS_LOGGER)


def accepted_request_id(incoming: str | None) -> str:
    """The caller's request id if it is short and plain, else a fresh uuid4 hex.

    A gateway's id lets logs be joined across services; anything else (long, or with
    characters that could forge log lines) is replaced rather than trusted.
    """
    if incoming is not None and _REQUEST_ID_PATTERN.fullmatch(incoming):
        return incoming
    return uuid.uuid4().hex


def _model_fields(scope: Scope) -> tuple[str | None, str | None]:
    """Name and version of the served model, from ``app.state.model_card`` once loaded."""
    app = scope.get("app")
    state = getattr(app, "state", None)
    card = getattr(state, "model_card", None) if state is not None else None
    if card is None:
        return None, None
    return getattr(card, "name", None), getattr(card, "version", None)


class RequestLogMiddleware:
    """Give every HTTP request an id, return it as ``X-Request-ID``, log one JSON line.

    Also the last line of defence for unexpected exceptions: it answers them with the
    generic 500 error body and logs their type only, instead of letting them reach the
    server, which would print the exception message and traceback.
    """

    def __init__(self, app: ASGIApp) -> None:
        """Wrap ``app``."""
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection; only HTTP requests are logged."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        request_id = accepted_request_id(Headers(scope=scope).get(REQUEST_ID_HEADER))
        scope.setdefault("state", {})[REQUEST_ID_KEY] = request_id
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = int(message["status"])
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:  # noqa: BLE001 - the point: no exception reaches the server
            log_unhandled(exc, scope)
            status = 500
            if not response_started:
                await internal_error_response(scope)(scope, receive, send_with_id)
        finally:
            self._log(scope, request_id, status, started)

    @staticmethod
    def _log(scope: Scope, request_id: str, status: int, started: float) -> None:
        """Write the access line for one finished request."""
        model_name, model_version = _model_fields(scope)
        line = {
            "request_id": request_id,
            "method": scope.get("method"),
            "route": route_template(scope),
            "status": status,
            "latency_ms": round((time.perf_counter() - started) * 1000, 1),
            "model_name": model_name,
            "model_version": model_version,
        }
        access_logger.info(json.dumps(line))
