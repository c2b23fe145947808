"""A request body limit, as a pure ASGI middleware, answering 413 in the error schema.

Uploads are whole CT volumes, so the limit is generous, but without one a single client
can fill the memory of the pod. A declared ``Content-Length`` over the limit is refused
before a byte is read; a body without one (chunked) is counted as it streams in and
cut off at the limit.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from medai.serving.errors import error_response, request_id_of

_BYTES_PER_MB = 1024 * 1024


class _BodyTooLargeError(Exception):
    """Raised from the wrapped ``receive`` to stop the app reading past the limit."""


def _declared_length(scope: Scope) -> int | None:
    """The request's Content-Length, or None when absent or not a number."""
    value = Headers(scope=scope).get("content-length")
    if value is None or not value.strip().isdigit():
        return None
    return int(value)


class _BodyGuard:
    """The body count and response state of one request."""

    def __init__(self, receive: Receive, send: Send, max_bytes: int) -> None:
        """Wrap one request's ``receive`` and ``send``."""
        self._receive = receive
        self._send = send
        self._max_bytes = max_bytes
        self._received = 0
        self.exceeded = False
        self.response_started = False

    async def receive(self) -> Message:
        """The next body message, or ``_BodyTooLargeError`` once the count passes the limit."""
        if self.exceeded:
            raise _BodyTooLargeError
        message = await self._receive()
        if message["type"] == "http.request":
            self._received += len(message.get("body", b""))
            if self._received > self._max_bytes:
                self.exceeded = True
                raise _BodyTooLargeError
        return message

    async def send(self, message: Message) -> None:
        """Forward the app's response, except an answer to a read the limit interrupted."""
        if self.exceeded and not self.response_started:
            # The app answered the interrupted read in its own way (FastAPI turns it into
            # a 400); drop that answer, the middleware sends the real one, a 413.
            return
        if message["type"] == "http.response.start":
            self.response_started = True
        await self._send(message)


class BodyLimitMiddleware:
    """Refuse request bodies over ``max_bytes`` with 413 ``payload_too_large``."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        """Wrap ``app``.

        Args:
            app: The ASGI app to protect.
            max_bytes: The largest accepted body, in bytes.
        """
        self.app = app
        self.max_bytes = max_bytes

    def _too_large(self, scope: Scope) -> ASGIApp:
        """The 413 response, as an ASGI app."""
        if self.max_bytes >= _BYTES_PER_MB:
            limit = f"{self.max_bytes / _BYTES_PER_MB:.4g} MB"
        else:  # only tests and odd configs; "0.000999 MB" would read as a typo
            limit = f"{self.max_bytes} bytes"
        return error_response(
            413,
            "payload_too_large",
            f"the request body is larger than the limit of {limit}",
            request_id=request_id_of(scope),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request through, or answer 413 once the body is known to be too large."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _declared_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._too_large(scope)(scope, receive, send)
            return

        guard = _BodyGuard(receive, send, self.max_bytes)
        try:
            await self.app(scope, guard.receive, guard.send)
        except Exception:
            # Whatever the app made of the interrupted read, the answer is 413, unless
            # the app had already started a response and only the server can end it.
            if not guard.exceeded or guard.response_started:
                raise
        if guard.exceeded and not guard.response_started:
            await self._too_large(scope)(scope, receive, send)
