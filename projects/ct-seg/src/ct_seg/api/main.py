"""ct-seg's inference server: ``uvicorn --factory ct_seg.api.main:create_app``.

``uv run invoke serve --project=ct-seg`` materializes the registered model and starts
this factory with ``api.model_dir`` pointing at the folder. Configuration comes from the
usual layers (``MEDAI_ENV``, ``MEDAI__API__*``); API keys from ``MEDAI_API_KEYS`` or
``MEDAI_API_KEYS_FILE``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from fastapi import FastAPI

import ct_seg
from ct_seg import settings as config
from ct_seg.api.routes import predict
from ct_seg.api.served_model import CtSegServedModel, load_onnx_model, load_torch_model
from medai.config import ConfigError
from medai.logs import configure_logging
from medai.serving import ServingConfigError, ServingSettings, load_api_keys
from medai.serving import create_app as create_serving_app

DESCRIPTION = """\
Segments an organ and its lesions in a CT volume (NIfTI, or a DICOM series).

Every route except `/health` and `/ready` needs an API key: header `X-API-Key: <key>`
or `Authorization: Bearer <key>`. Errors share one schema: `{"error": {...}}`.
"""


def create_app(environ: Mapping[str, str] | None = None) -> FastAPI:
    """Build the server from configuration (uvicorn calls this with no arguments).

    Raises:
        SystemExit: with one ``error: ...`` line when the config is wrong (for example
            ``api.model_dir`` unset) or unsafe (no API key in production), instead of
            the traceback uvicorn would print.
    """
    try:
        return _create_app(os.environ if environ is None else environ)
    except (ConfigError, ServingConfigError) as exc:
        raise SystemExit(f"error: {exc}") from None


def _create_app(environ: Mapping[str, str]) -> FastAPI:
    settings = config.load(environ=environ)
    configure_logging(settings.logging)
    model_dir = settings.api.model_dir
    if model_dir is None:
        raise ConfigError(
            "api.model_dir",
            None,
            "not set: run `uv run invoke serve --project=ct-seg`, "
            "or set MEDAI__API__MODEL_DIR to a materialized model folder",
        )
    loader = load_torch_model if settings.api.backend == "torch" else load_onnx_model

    def load_model() -> CtSegServedModel:
        return loader(model_dir, settings)

    serving = ServingSettings.from_api(
        settings.api, environment=settings.environment, api_keys=load_api_keys(environ)
    )
    return create_serving_app(
        title="ct-seg inference",
        version=getattr(ct_seg, "__version__", "0.1.0"),
        settings=serving,
        load_model=load_model,
        predict_router=predict.router,
        description=DESCRIPTION,
    )
