"""The dependencies routes declare, once each, as ``Annotated`` aliases.

A route writes ``model: ModelDep`` instead of repeating ``Depends(...)``; tests replace
any of them with ``app.dependency_overrides[get_model] = ...``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends
from starlette.requests import Request

from medai.serving.auth import require_api_key
from medai.serving.bundle import ServedModel
from medai.serving.errors import ApiError
from medai.serving.settings import ServingSettings, get_settings

__all__ = [
    "AuthDep",
    "ModelDep",
    "SettingsDep",
    "get_model",
    "get_settings",
    "not_ready_reason",
    "require_api_key",
]


def not_ready_reason(state: Any) -> str:  # noqa: ANN401 - Starlette's State is untyped
    """Why the app cannot serve yet: still loading, or the one-line load failure."""
    failure = getattr(state, "model_error", None)
    if failure:
        return f"model failed to load: {failure}"
    return "model is still loading; retry shortly"


def get_model(request: Request) -> ServedModel:
    """The loaded model.

    Raises:
        ApiError: 503 ``not_ready`` while the model loads or after it failed to load.
    """
    model: ServedModel | None = getattr(request.app.state, "model", None)
    if model is None:
        raise ApiError(503, "not_ready", not_ready_reason(request.app.state))
    return model


ModelDep = Annotated[ServedModel, Depends(get_model)]
SettingsDep = Annotated[ServingSettings, Depends(get_settings)]
AuthDep = Annotated[None, Depends(require_api_key)]
