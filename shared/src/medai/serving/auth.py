"""API-key authentication: ``X-API-Key: <key>`` or ``Authorization: Bearer <key>``.

Two headers because clients differ: curl users and gateways like ``X-API-Key``, OpenAPI
client generators and service meshes like bearer tokens. Both are declared as FastAPI
security schemes so the OpenAPI document says how to authenticate.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Sequence
from typing import Annotated

from fastapi import Depends, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr

from medai.serving.errors import ApiError
from medai.serving.settings import ServingSettings, get_settings

API_KEY_HEADER = "X-API-Key"

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
        raise ApiError(
            401,
            "unauthorized",
            f"missing or invalid API key; send it as '{API_KEY_HEADER}: <key>'"
            " or 'Authorization: Bearer <key>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
