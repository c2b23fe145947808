"""A classification project's server factory: what its ``api/main.py`` hands to uvicorn.

``uvicorn --factory <package>.api.main:create_app`` calls the factory with no arguments;
the configuration comes from the usual layers (``MEDAI_ENV``, ``MEDAI__API__*``) and the
API keys from ``MEDAI_API_KEYS`` or ``MEDAI_API_KEYS_FILE``.
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter
from starlette.middleware import Middleware

from medai.classification.project import ClassificationProject, SettingsT
from medai.classification.serving.model import model_loaders
from medai.classification.serving.predict import predict_router
from medai.classification.serving.response import ALL_HEATMAPS, POSITIVE_HEATMAPS
from medai.classification.serving.validation import ACCEPTED
from medai.serving.project_app import AUTHENTICATION_HELP, AppFactory, project_app_factory


def api_description(project: ClassificationProject[SettingsT]) -> str:
    """Markdown at the top of the API docs: what the model says, how to ask, how to authenticate."""
    findings = "".join(
        f"- `{label}`: {description}\n" for label, description in project.findings.items()
    )
    listed = (
        f"\nThe findings (the served model's card has the authoritative list):\n\n{findings}"
        if findings
        else ""
    )
    return (
        f"Estimates, for {ACCEPTED}, the probability of each finding in a "
        f"{project.modality}, and which findings reach the model's operating point.\n"
        f"{listed}\n"
        f"`POST /v1/predict?heatmap=<label>` (or `{POSITIVE_HEATMAPS}`, `{ALL_HEATMAPS}`) adds "
        "Grad-CAM overlays as base64 PNGs: where the network looked, not a segmentation.\n"
        "\n"
    ) + AUTHENTICATION_HELP


def app_factory(
    project: ClassificationProject[SettingsT],
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
