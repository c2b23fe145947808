"""A request body limit, as a pure ASGI middleware, answering 413 in the error schema.

Uploads are whole CT volumes, so the limit is generous, but without one a single client
can fill the memory of the pod. A declared ``Content-Length`` over the limit is refused
before a byte is read; a body without one (chunked) is counted as it streams in and
cut off at the limit.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from medai.serving.body_guard import CLOSE_CONNECTION, BodyGuard, BodyRefusedError
from medai.serving.errors import error_response, request_id_of

_BYTES_PER_MB = 1024 * 1024


def _declared_length(scope: Scope) -> int | None:
    """The request's Content-Length, or None when absent or not a number."""
    value = Headers(scope=scope).get("content-length")
    if value is None or not value.strip().isdigit():
        return None
    return int(value)


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
            headers=CLOSE_CONNECTION,
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

        guard = BodyGuard(send)
        received = 0

        async def counted_receive() -> Message:
            nonlocal received
            if guard.refused:
                raise BodyRefusedError
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise guard.refuse(self._too_large(scope))
            return message

        await guard.run(self.app, scope, counted_receive)
