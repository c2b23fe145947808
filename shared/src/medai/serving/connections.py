"""Connection limits uvicorn lacks: a deadline for the request head, a cap on connections.

uvicorn (h11) closes a kept-alive connection that stays idle, but waits for ever on a
fresh connection that sends nothing, or a request head sent one header line at a time
(slowloris): each such client holds a socket, and enough of them exhaust the server's
file descriptors. ``GuardedH11Protocol`` is uvicorn's h11 protocol with:

* a deadline for each request head (``header_timeout_s``), counted from the connection
  or from the head's first byte; a partial head gets a 408 in the error schema, a
  connection that sent nothing is closed silently (a browser's preconnect is not an
  error);
* ``keep_alive_s`` for idle kept-alive connections (uvicorn's own timer);
* at most ``max_connections`` open connections per worker: a request on a connection
  over the cap is answered 503 ``server_busy`` and the connection closed.

The request body's deadline is ``BodyTimeoutMiddleware``'s (ASGI, so it also holds in
tests). uvicorn builds a protocol from its ``Config`` alone; the limits come from the
``ServingSettings`` of the app it serves, so one config drives both. Start uvicorn with
``--http medai.serving.connections:GuardedH11Protocol`` (``launch.server_plan`` does):
h11 is chosen on purpose, httptools would bring its own C parser and none of this.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import logging
from typing import Any

import h11
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from medai.serving.body_guard import CLOSE_CONNECTION
from medai.serving.errors import ErrorBody, ErrorResponse, error_response
from medai.serving.settings import ServingSettings

_MAX_APP_WRAPPERS = 8

logger = logging.getLogger(__name__)


def served_settings(app: object) -> ServingSettings:
    """The ``ServingSettings`` of the app uvicorn loaded, through its middleware wrappers.

    uvicorn wraps the app (proxy headers, message logging) in objects that keep it as
    ``.app``; ``create_app`` keeps the settings on ``app.state.settings``. An app that has
    none (not built by ``create_app``) gets the defaults.
    """
    current: object | None = app
    for _ in range(_MAX_APP_WRAPPERS):
        if current is None:
            break
        settings = getattr(getattr(current, "state", None), "settings", None)
        if isinstance(settings, ServingSettings):
            return settings
        current = getattr(current, "app", None)
    return ServingSettings()


def raw_error(status: int, code: str, message: str) -> bytes:
    """A whole HTTP/1.1 error response in the error schema, for the protocol to write.

    Used where no request was parsed, so h11 cannot build the response; it always closes.
    """
    body = ErrorResponse(
        error=ErrorBody(status=status, code=code, message=message)
    ).model_dump_json()
    head = (
        f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(body.encode())}\r\n"
        "connection: close\r\n\r\n"
    )
    return (head + body).encode()


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a request-head deadline and a connection cap."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        """Set up as uvicorn does, then take the limits from the served app's settings."""
        super().__init__(config, server_state, app_state, _loop)
        settings = served_settings(config.loaded_app)
        self.header_timeout_s = settings.header_timeout_s
        self.timeout_keep_alive = settings.keep_alive_s  # type: ignore[assignment]
        self.max_connections = settings.max_connections
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_started = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Count the connection; answer its requests 503 if it is over the cap."""
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            logger.warning("over %d open connections: answering 503", self.max_connections)
            self.app = error_response(
                503,
                "server_busy",
                f"the server has its limit of {self.max_connections} open connections;"
                " retry shortly",
                request_id=None,
                headers={**CLOSE_CONNECTION, "Retry-After": "1"},
            )
        self._start_head_timer()

    def data_received(self, data: bytes) -> None:
        """Feed h11; time the request head from its first byte until it is complete."""
        if self.conn.their_state is h11.IDLE:
            self._head_started = True
            if self._head_timer is None:
                self._start_head_timer()
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._stop_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the head timer with the connection."""
        self._stop_head_timer()
        super().connection_lost(exc)

    def _start_head_timer(self) -> None:
        self._head_timer = self.loop.call_later(self.header_timeout_s, self._head_timed_out)

    def _stop_head_timer(self) -> None:
        self._head_started = False
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        """Close a connection whose request head is still incomplete (408 if it began)."""
        self._head_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        if self._head_started:
            message = f"the request head did not arrive within {self.header_timeout_s:g} s"
            self.transport.write(raw_error(408, "request_timeout", message))
        with contextlib.suppress(h11.LocalProtocolError):  # h11 may already be closing
            self.conn.send(h11.ConnectionClosed())
        self.transport.close()
