"""The ct-seg inference server, assembled from its own routers and middleware.

    uvicorn --factory ct_seg.api.main:create_app

``uv run invoke serve --project=ct-seg`` materializes the registered model and
starts this factory with ``api.model_dir`` pointing at it. Configuration comes from the
usual layers (``MEDAI_ENV``, ``MEDAI__API__*``), API keys from ``MEDAI_API_KEYS`` or
``MEDAI_API_KEYS_FILE``.

This file is the project's: add a route module under ``api/routes/`` or a middleware
under ``api/middleware/`` and list it below. The segmentation kind's ``app_factory``
brings what every server shares and runs it first: ``/health``, ``/ready``,
``/v1/model``, ``/metrics``, the docs, the API key, the body limits, the access log.
"""

from starlette.middleware import Middleware

from ct_seg.api.routes import predict
from ct_seg.settings import PROJECT
from medai.segmentation.serving.app import app_factory

ROUTERS = [predict.router]
"""ct-seg's routes, in order, each behind the API key."""

MIDDLEWARE: list[Middleware] = []
"""ct-seg's own middleware, outermost first; none: the shared stack alone."""

create_app = app_factory(PROJECT, routers=ROUTERS, middleware=MIDDLEWARE)
