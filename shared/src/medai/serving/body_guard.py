"""Stopping an app in the middle of reading a request body, and answering for it.

The body-limit and body-timeout middlewares both refuse a body the app is already
reading. Their ``receive`` raises ``BodyRefusedError``; whatever the app makes of that
(FastAPI turns a failed form parse into a 400) is dropped, and the client gets the real
reason (413, 408) instead. Refusals close the connection: the rest of the body is never
going to be read, and a kept-alive connection would make the server drain it.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CLOSE_CONNECTION = {"Connection": "close"}
"""Headers of an answer sent before the body was read: the server closes afterwards."""


class BodyRefusedError(Exception):
    """Raised from a guarded ``receive``: the app must stop reading, the guard answers."""


class BodyGuard:
    """One request's response state while a middleware watches its body."""

    def __init__(self, send: Send) -> None:
        """Wrap the request's ``send``."""
        self._send = send
        self.refusal: ASGIApp | None = None
        self.response_started = False

    @property
    def refused(self) -> bool:
        """Whether the body was refused (every later read fails too)."""
        return self.refusal is not None

    def refuse(self, answer: ASGIApp) -> BodyRefusedError:
        """Record ``answer`` as the response and return the error for ``receive`` to raise."""
        self.refusal = answer
        return BodyRefusedError()

    async def send(self, message: Message) -> None:
        """Forward the app's response, except its answer to a read that was refused."""
        if self.refused and not self.response_started:
            return
        if message["type"] == "http.response.start":
            self.response_started = True
        await self._send(message)

    async def run(self, app: ASGIApp, scope: Scope, receive: Receive) -> None:
        """Run ``app`` with the guarded ``receive``; send the refusal if the body was refused.

        Raises:
            Exception: Whatever ``app`` raised, unless it was the app's reaction to the
                refusal; and after a started response, since only the server can end it.
        """
        try:
            await app(scope, receive, self.send)
        except Exception:
            if self.refusal is None or self.response_started:
                raise
        if self.refusal is not None and not self.response_started:
            await self.refusal(scope, receive, self._send)
