"""A classification project's server factory: what its ``api/main.py`` hands to uvicorn.

``uvicorn --factory <package>.api.main:create_app`` calls the factory with no arguments;
the configuration comes from the usual layers (``MEDAI_ENV``, ``MEDAI__API__*``) and the
API keys from ``MEDAI_API_KEYS`` or ``MEDAI_API_KEYS_FILE``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from fastapi import APIRouter, FastAPI

from medai.classification.project import ClassificationProject, SettingsT
from medai.classification.serving.model import model_loaders
from medai.classification.serving.response import ALL_HEATMAPS, POSITIVE_HEATMAPS
from medai.classification.serving.validation import ACCEPTED
from medai.serving.project_app import create_project_app


class AppFactory(Protocol):
    """``create_app(environ=None)``: the server (``os.environ`` when ``environ`` is None)."""

    def __call__(self, environ: Mapping[str, str] | None = None) -> FastAPI:
        """Build the app; a wrong or unsafe config exits with one ``error: ...`` line."""
        ...


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
        "Every route except `/health` and `/ready` needs an API key: header `X-API-Key: <key>`\n"
        'or `Authorization: Bearer <key>`. Errors share one schema: `{"error": {...}}`.\n'
    )


def classification_app_factory(
    project: ClassificationProject[SettingsT], predict_router: APIRouter
) -> AppFactory:
    """The project's ``create_app``, serving ``predict_router`` with the kit's model loaders."""

    def create_app(environ: Mapping[str, str] | None = None) -> FastAPI:
        return create_project_app(
            project.binding,
            version=project.code_version(),
            description=api_description(project),
            predict_router=predict_router,
            loaders=model_loaders(project),
            environ=environ,
        )

    create_app.__doc__ = f"The {project.name} inference server (uvicorn calls this)."
    return create_app
