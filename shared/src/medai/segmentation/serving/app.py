"""A segmentation project's server factory: what its ``api/main.py`` hands to uvicorn.

``uvicorn --factory <package>.api.main:create_app`` calls the factory with no arguments;
the configuration comes from the usual layers (``MEDAI_ENV``, ``MEDAI__API__*``) and the
API keys from ``MEDAI_API_KEYS`` or ``MEDAI_API_KEYS_FILE``.
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter
from starlette.middleware import Middleware

from medai.segmentation.project import SegmentationProject, SettingsT
from medai.segmentation.serving.model import model_loaders
from medai.segmentation.serving.predict import predict_router
from medai.serving.project_app import AUTHENTICATION_HELP, AppFactory, project_app_factory


def api_description(project: SegmentationProject[SettingsT]) -> str:
    """Markdown at the top of the API docs: what the model does, how to authenticate."""
    return (
        f"Segments {project.target} in a {project.modality} volume (NIfTI, or a DICOM series).\n\n"
    ) + AUTHENTICATION_HELP


def app_factory(
    project: SegmentationProject[SettingsT],
    *,
    routers: Sequence[APIRouter] | None = None,
    middleware: Sequence[Middleware] = (),
) -> AppFactory:
    """The project's ``create_app``: its routers and middleware, the kind's model loaders.

    Args:
        project: The project.
        routers: Its routes, in order; None: the kind's ``POST /v1/predict`` alone.
        middleware: Its own middleware, outermost first, run after the shared key check
            and body limits; none by default.
    """
    return project_app_factory(
        project,
        routers=[predict_router(project)] if routers is None else routers,
        middleware=middleware,
        description=api_description,
        loaders=model_loaders,
    )
