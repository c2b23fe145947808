"""A segmentation project's server factory: what its ``api/main.py`` hands to uvicorn.

``uvicorn --factory <package>.api.main:create_app`` calls the factory with no arguments;
the configuration comes from the usual layers (``MEDAI_ENV``, ``MEDAI__API__*``) and the
API keys from ``MEDAI_API_KEYS`` or ``MEDAI_API_KEYS_FILE``.
"""

from __future__ import annotations

from fastapi import APIRouter

from medai.segmentation.project import SegmentationProject, SettingsT
from medai.segmentation.serving.model import model_loaders
from medai.serving.project_app import AUTHENTICATION_HELP, AppFactory, project_app_factory


def api_description(project: SegmentationProject[SettingsT]) -> str:
    """Markdown at the top of the API docs: what the model does, how to authenticate."""
    return (
        f"Segments {project.target} in a {project.modality} volume (NIfTI, or a DICOM series).\n\n"
    ) + AUTHENTICATION_HELP


def app_factory(project: SegmentationProject[SettingsT], predict_router: APIRouter) -> AppFactory:
    """The project's ``create_app``, serving ``predict_router`` with the kit's model loaders."""
    return project_app_factory(
        project, predict_router, description=api_description, loaders=model_loaders
    )
