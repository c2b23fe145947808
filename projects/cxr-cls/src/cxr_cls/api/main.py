"""The cxr-cls inference server, assembled from its own routers and middleware.

    uvicorn --factory cxr_cls.api.main:create_app

``uv run invoke serve --project=cxr-cls`` writes the registered classifier's ONNX
graph and card (labels, image size, thresholds) to a folder and starts this factory on
it. Configuration comes from the usual layers (``MEDAI_ENV``, ``MEDAI__API__*``), API
keys from ``MEDAI_API_KEYS`` or ``MEDAI_API_KEYS_FILE``.

This file is the project's: add a route module under ``api/routes/`` or a middleware
under ``api/middleware/`` and list it below. The classification kind's ``app_factory``
brings what every server shares and runs it first: ``/health``, ``/ready``,
``/v1/model``, ``/metrics``, the docs, the API key, the body limits, the access log.
"""

from starlette.middleware import Middleware

from cxr_cls.api.routes import predict
from cxr_cls.settings import PROJECT
from medai.classification.serving.app import app_factory

ROUTERS = [predict.router]
"""cxr-cls's routes, in order, each behind the API key."""

MIDDLEWARE: list[Middleware] = []
"""cxr-cls's own middleware, outermost first; none: the shared stack alone."""

create_app = app_factory(PROJECT, routers=ROUTERS, middleware=MIDDLEWARE)
