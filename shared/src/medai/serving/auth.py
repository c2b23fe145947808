"""API-key authentication: ``X-API-Key: <key>`` or ``Authorization: Bearer <key>``.

Two headers because clients differ: curl users and gateways like ``X-API-Key``, OpenAPI
client generators and service meshes like bearer tokens.

Two checks of the same keys, for two reasons. ``ApiKeyMiddleware`` decides from the
headers alone, before routing and before a byte of the body is read: FastAPI parses a
multipart form (spooling it to disk) before it runs any dependency, so a route's
dependency alone would make the server read 200 MB for a client without a key, and
answer a malformed body with 400 instead of 401. ``require_api_key`` stays on every
protected route because it declares the security schemes in the OpenAPI document, and
it reads the settings through ``get_settings``, which tests override.

Protected is everything but the probes (``/health``, ``/ready``), unknown paths included:
a client without a key gets 401 for ``/v1/nothing`` as for ``/v1/predict``, so probing
without a key learns nothing about which routes exist.
"""

from __future__ import annotations

import hmac
from collections.abc import Collection, Iterable, Sequence
from typing import Annotated

from fastapi import Depends, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from pydantic import SecretStr
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from medai.serving.body_guard import CLOSE_CONNECTION
from medai.serving.errors import ApiError, error_response, request_id_of
from medai.serving.settings import ServingSettings, get_settings

API_KEY_HEADER = "X-API-Key"
OPEN_PATHS = frozenset({"/health", "/ready"})
"""The routes that need no key: probes, which Kubernetes calls without one."""

_UNAUTHORIZED_MESSAGE = (
    f"missing or invalid API key; send it as '{API_KEY_HEADER}: <key>'"
    " or 'Authorization: Bearer <key>'"
)
_CHALLENGE = {"WWW-Authenticate": "Bearer"}

api_key_scheme = APIKeyHeader(
    name=API_KEY_HEADER,
    scheme_name="ApiKeyHeader",
    description="One of the server's API keys (MEDAI_API_KEYS / MEDAI_API_KEYS_FILE).",
    auto_error=False,
)
bearer_scheme = HTTPBearer(
    scheme_name="BearerKey",
    description="The same API key, sent as `Authorization: Bearer <key>`.",
    auto_error=False,
)


def key_matches(presented: Iterable[str], keys: Sequence[SecretStr]) -> bool:
    """Whether any presented credential equals any configured key, in constant time.

    Every pair is compared with ``hmac.compare_digest`` and there is no early exit, so
    the response time does not tell an attacker which key (or how much of one) matched.
    """
    matched = False
    for candidate in presented:
        candidate_bytes = candidate.encode()
        for key in keys:
            matched |= hmac.compare_digest(candidate_bytes, key.get_secret_value().encode())
    return matched


async def require_api_key(
    settings: Annotated[ServingSettings, Depends(get_settings)],
    api_key: Annotated[str | None, Security(api_key_scheme)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
) -> None:
    """Let the request through if it carries a configured key, or if no key is configured.

    ``check_startup`` has already refused to run without keys anywhere but on loopback
    in development, so "no keys" here means a developer's machine.

    Raises:
        ApiError: 401 ``unauthorized`` when keys are configured and none was presented
            or the presented one is wrong (the same answer, so probing learns nothing).
    """
    if not settings.api_keys:
        return
    presented = [value for value in (api_key, bearer.credentials if bearer else None) if value]
    if not key_matches(presented, settings.api_keys):
        raise ApiError(401, "unauthorized", _UNAUTHORIZED_MESSAGE, headers=_CHALLENGE)


def presented_credentials(headers: Headers) -> list[str]:
    """The non-empty ``X-API-Key`` value and bearer token of a request, parsed as FastAPI does."""
    scheme, token = get_authorization_scheme_param(headers.get("authorization"))
    bearer = token if scheme.lower() == "bearer" else None
    return [value for value in (headers.get(API_KEY_HEADER), bearer) if value]


def route_path(scope: Scope) -> str:
    """The path the router matches: ``path`` without the ``root_path`` a proxy mounts it at."""
    path = str(scope["path"])
    root_path = str(scope.get("root_path", ""))
    if root_path and path.startswith(root_path) and path[len(root_path) :][:1] in {"", "/"}:
        return path[len(root_path) :]
    return path


def _announces_body(headers: Headers) -> bool:
    """Whether the client said a body follows (a length over 0, or chunked)."""
    length = headers.get("content-length", "").strip()
    return "transfer-encoding" in headers or (length not in {"", "0"})


class ApiKeyMiddleware:
    """Refuse requests without a valid key with 401, from the headers, before the body.

    ``receive`` is never called for a refused request, so nothing of its body is read,
    parsed or written to disk. When a body was announced the 401 also closes the
    connection: the server would otherwise read and drop the whole body to keep the
    connection alive.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        keys: Sequence[SecretStr],
        open_paths: Collection[str] = OPEN_PATHS,
    ) -> None:
        """Wrap ``app``.

        Args:
            app: The ASGI app to protect.
            keys: The accepted keys; none means every request passes (``check_startup``
                allows that only on a developer's loopback server).
            open_paths: Route paths served without a key.
        """
        self.app = app
        self.keys = tuple(keys)
        self.open_paths = frozenset(open_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass an authenticated (or open) request on, else answer 401 ``unauthorized``."""
        if (
            scope["type"] not in {"http", "websocket"}
            or not self.keys
            or route_path(scope) in self.open_paths
        ):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if key_matches(presented_credentials(headers), self.keys):
            await self.app(scope, receive, send)
            return
        response_headers = dict(_CHALLENGE)
        if _announces_body(headers):
            response_headers.update(CLOSE_CONNECTION)
        refusal = error_response(
            401,
            "unauthorized",
            _UNAUTHORIZED_MESSAGE,
            request_id=request_id_of(scope),
            headers=response_headers,
        )
        await refusal(scope, receive, send)
