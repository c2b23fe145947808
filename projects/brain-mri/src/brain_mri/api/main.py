"""The brain-mri inference server, assembled from its own routers and middleware.

    uvicorn --factory brain_mri.api.main:create_app

``uv run invoke serve --project=brain-mri`` materializes the registered model and
starts this factory with ``api.model_dir`` pointing at it. Configuration comes from the
usual layers (``MEDAI_ENV``, ``MEDAI__API__*``), API keys from ``MEDAI_API_KEYS`` or
``MEDAI_API_KEYS_FILE``.

This file is the project's: add a route module under ``api/routes/`` or a middleware
under ``api/middleware/`` and list it below. The segmentation kind's ``app_factory``
brings what every server shares and runs it first: ``/health``, ``/ready``,
``/v1/model``, ``/metrics``, the docs, the API key, the body limits, the access log.
"""

from starlette.middleware import Middleware

from brain_mri.api.routes import predict, regions
from brain_mri.settings import PROJECT
from medai.segmentation.serving.app import app_factory

ROUTERS = [predict.router, regions.router]
"""brain-mri's routes: the kind's prediction and its own ``GET /v1/regions``."""

MIDDLEWARE: list[Middleware] = []
"""brain-mri's own middleware, outermost first; none: the shared stack alone."""

create_app = app_factory(PROJECT, routers=ROUTERS, middleware=MIDDLEWARE)
