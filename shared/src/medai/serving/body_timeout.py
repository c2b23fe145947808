"""A deadline on the request body, as a pure ASGI middleware, answering 408.

uvicorn waits for a body as long as the client keeps the connection open: a client that
sends its headers and then one byte a minute, or nothing, holds a connection and a task
for ever, and a few hundred such clients exhaust the server. So the server waits on a
body at most ``idle_timeout_s`` at a time, and in all at most ``idle_timeout_s`` plus one
second for every ``min_bytes_per_s`` bytes received (Apache's ``mod_reqtimeout`` rule): a
stalled body is cut off after ``idle_timeout_s``, a trickle soon after, while a large
upload on a slow but honest line earns the time it needs.

Only time spent waiting on the client counts: a route that works between two reads is
not the client's fault, and one that reads the body late (after a queue) is not either.
"""

from __future__ import annotations

import asyncio
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from medai.serving.body_guard import CLOSE_CONNECTION, BodyGuard, BodyRefusedError
from medai.serving.errors import error_response, request_id_of

_STALL_SHARE = 0.99


class _BodyClock:
    """How long one request's body has kept the server waiting, against its allowance."""

    def __init__(self, idle_timeout_s: float, min_bytes_per_s: int) -> None:
        """Start with nothing received and nothing waited."""
        self.idle_timeout_s = idle_timeout_s
        self.min_bytes_per_s = min_bytes_per_s
        self.received = 0
        self.waited_s = 0.0
        self.complete = False

    def allowance_s(self) -> float:
        """How long the next read may wait: the idle limit, or what the rate has left."""
        earned = self.idle_timeout_s + self.received / self.min_bytes_per_s - self.waited_s
        return max(0.0, min(self.idle_timeout_s, earned))

    def record(self, message: Message, waited_s: float) -> None:
        """Count one received message and the time spent waiting for it."""
        self.waited_s += waited_s
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            self.complete = not message.get("more_body", False)
        else:  # http.disconnect: there is no more body to wait for
            self.complete = True


class BodyTimeoutMiddleware:
    """Answer 408 ``request_timeout`` to a request body that stalls or trickles."""

    def __init__(self, app: ASGIApp, *, idle_timeout_s: float, min_bytes_per_s: int) -> None:
        """Wrap ``app``.

        Args:
            app: The ASGI app to protect.
            idle_timeout_s: The longest wait for the next part of a body, in seconds.
            min_bytes_per_s: The slowest average rate a body may arrive at, after
                ``idle_timeout_s`` of grace.
        """
        self.app = app
        self.idle_timeout_s = idle_timeout_s
        self.min_bytes_per_s = min_bytes_per_s

    def _timed_out(self, scope: Scope, *, stalled: bool) -> ASGIApp:
        """The 408 response, as an ASGI app, saying which limit the body missed."""
        if stalled:
            reason = f"nothing arrived for {self.idle_timeout_s:g} s"
        else:
            reason = f"it arrived slower than {self.min_bytes_per_s} bytes/s"
        return error_response(
            408,
            "request_timeout",
            f"the request body timed out: {reason}",
            request_id=request_id_of(scope),
            headers=CLOSE_CONNECTION,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request through with a ``receive`` that gives up on a slow body."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        guard = BodyGuard(send)
        clock = _BodyClock(self.idle_timeout_s, self.min_bytes_per_s)

        async def timed_receive() -> Message:
            if guard.refused:
                raise BodyRefusedError
            if clock.complete:  # waiting for a disconnect is not waiting on a body
                return await receive()
            allowance = clock.allowance_s()
            started = time.monotonic()
            try:
                async with asyncio.timeout(allowance):
                    message = await receive()
            except TimeoutError:
                # Within 1%: microseconds waited on earlier reads must not turn a stall
                # into a rate message.
                stalled = allowance >= _STALL_SHARE * self.idle_timeout_s
                raise guard.refuse(self._timed_out(scope, stalled=stalled)) from None
            clock.record(message, time.monotonic() - started)
            return message

        await guard.run(self.app, scope, timed_receive)
