"""Build a project's server from its configuration: what every ``api/main.py`` would repeat.

The project's ``api/main.py`` assembles its app from its own routers and middleware (as
full-stack-fastapi-template's ``main.py`` does) and hands them, with the kind's loaders,
to ``project_app_factory``; this module resolves the config, insists on a materialized
model folder, reads the API keys and hands everything to ``create_app``. A config error
becomes one ``error: ...`` line instead of the traceback uvicorn would print.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

from fastapi import APIRouter, FastAPI
from starlette.middleware import Middleware

from medai.config import ConfigError, ProjectSettings
from medai.logs import configure_logging
from medai.project import KitProject, ProjectBinding
from medai.serving.app import create_app
from medai.serving.bundle import BundleError, ModelBundle, ServedModel
from medai.serving.settings import ServingConfigError, ServingSettings, load_api_keys
from medai.tracking.errors import ModelRefusedError
from medai.tracking.model_choice import check_served_card

SettingsT = TypeVar("SettingsT", bound=ProjectSettings)
ModelLoader = Callable[[Path, SettingsT], ServedModel]
"""Loads a materialized model folder for one backend (``onnx`` or ``torch``)."""
ProjectT = TypeVar("ProjectT", bound=KitProject[Any, Any])

AUTHENTICATION_HELP = (
    "Every route except `/health` and `/ready` needs an API key: header `X-API-Key: <key>`\n"
    'or `Authorization: Bearer <key>`. Errors share one schema: `{"error": {...}}`.\n'
)
"""The API docs' paragraph on keys and errors, the same for every project."""


class AppFactory(Protocol):
    """``create_app(environ=None)``: the server (``os.environ`` when ``environ`` is None)."""

    def __call__(self, environ: Mapping[str, str] | None = None) -> FastAPI:
        """Build the app; a wrong or unsafe config exits with one ``error: ...`` line."""
        ...


def project_app_factory(
    project: ProjectT,
    *,
    routers: Sequence[APIRouter],
    middleware: Sequence[Middleware] = (),
    description: Callable[[ProjectT], str],
    loaders: Callable[[ProjectT], Mapping[str, ModelLoader[Any]]],
) -> AppFactory:
    """A kit project's ``create_app``: its routers and middleware, the kit's model loaders.

    Args:
        project: The project.
        routers: Its routes (``POST /v1/predict`` and any of its own), behind the API key.
        middleware: Its own middleware, outermost first, run after the shared key check
            and body limits (``medai.serving.app.create_app``).
        description: The kit's API docs text for a project.
        loaders: The kit's model loaders (one per backend) for a project.

    Raises:
        ValueError: no router, or two routers with the same method and path.
    """
    routers, middleware = tuple(routers), tuple(middleware)
    check_routes(routers)

    def create_app(environ: Mapping[str, str] | None = None) -> FastAPI:
        return create_project_app(
            project.binding,
            version=project.code_version(),
            description=description(project),
            routers=routers,
            middleware=middleware,
            loaders=loaders(project),
            environ=environ,
        )

    create_app.__doc__ = f"The {project.name} inference server (uvicorn calls this)."
    return create_app


def create_project_app(
    binding: ProjectBinding[SettingsT],
    *,
    version: str,
    description: str,
    routers: Sequence[APIRouter],
    middleware: Sequence[Middleware] = (),
    loaders: Mapping[str, ModelLoader[SettingsT]],
    environ: Mapping[str, str] | None = None,
) -> FastAPI:
    """The project's FastAPI app (uvicorn calls the project's factory with no arguments).

    Args:
        binding: The project.
        version: The server code's version (the model's comes from its folder).
        description: Markdown at the top of the docs: what the model does, how to authenticate.
        routers: The project's routes, behind the API key.
        middleware: The project's own middleware, outermost first (inside the shared one).
        loaders: One model loader per ``api.backend`` value.
        environ: The environment (``os.environ`` when None; tests pass their own).

    Raises:
        SystemExit: one ``error: ...`` line when the config is wrong (``api.model_dir``
            unset, a backend without a loader) or unsafe (no API key in production).
    """
    try:
        return _build(
            binding,
            version=version,
            description=description,
            routers=routers,
            middleware=middleware,
            loaders=loaders,
            environ=os.environ if environ is None else environ,
        )
    except (ConfigError, ServingConfigError, ModelRefusedError) as exc:
        raise SystemExit(f"error: {exc}") from None


def _check_served_version(model_dir: Path, settings: ProjectSettings) -> None:
    """Refuse in production a folder holding a fallback version (``model_choice``'s rule).

    A folder the loader cannot read is left to it: ``/ready`` reports that with the reason.
    """
    try:
        card = ModelBundle.load(model_dir).card
    except BundleError:
        return
    warning = check_served_card(card, model_dir, environment=settings.environment, api=settings.api)
    if warning is not None:
        logging.getLogger(__name__).warning(warning)


def _build(
    binding: ProjectBinding[SettingsT],
    *,
    version: str,
    description: str,
    routers: Sequence[APIRouter],
    middleware: Sequence[Middleware],
    loaders: Mapping[str, ModelLoader[SettingsT]],
    environ: Mapping[str, str],
) -> FastAPI:
    settings = binding.load(environ=environ)
    configure_logging(settings.logging)
    model_dir = settings.api.model_dir
    if model_dir is None:
        raise ConfigError(
            "api.model_dir",
            None,
            f"not set: run `uv run invoke serve --project={binding.name}`, "
            "or set MEDAI__API__MODEL_DIR to a materialized model folder",
        )
    backend = settings.api.backend
    if backend not in loaders:
        raise ConfigError(
            "configuration",
            "api.backend",
            f"{backend!r}: {binding.name} serves with one of {sorted(loaders)}",
        )
    loader = loaders[backend]
    _check_served_version(model_dir, settings)

    def load_model() -> ServedModel:
        return loader(model_dir, settings)

    serving = ServingSettings.from_api(
        settings.api, environment=settings.environment, api_keys=load_api_keys(environ)
    )
    return create_app(
        title=f"{binding.name} inference",
        version=version,
        settings=serving,
        load_model=load_model,
        routers=routers,
        middleware=middleware,
        description=description,
    )


_SHARED_ROUTES = frozenset(
    {
        *((method, probe) for method in ("GET", "HEAD") for probe in ("/health", "/ready")),
        ("GET", "/v1/model"),
        ("GET", "/metrics"),
        ("GET", "/openapi.json"),
        ("GET", "/docs"),
    }
)
"""Routes ``create_app`` serves itself; a project router may not shadow them."""


def check_routes(routers: Sequence[APIRouter]) -> None:
    """Refuse, when ``api/main.py`` is imported, routers that would clash or serve nothing.

    FastAPI matches the first route registered for a method and path and silently ignores
    a later one, so a project route shadowing another (or a shared probe) would never run;
    that is a mistake to name at import, not a behaviour to discover in production.

    Raises:
        ValueError: no router, or one method and path given twice, naming them.
    """
    if not routers:
        raise ValueError("a project's server needs at least one router (its predict route)")
    seen: set[tuple[str, str]] = set(_SHARED_ROUTES)
    for router in routers:
        for route in router.routes:
            path = str(getattr(route, "path", ""))
            for method in sorted(getattr(route, "methods", None) or ()):
                key = (method, path)
                if key in seen:
                    raise ValueError(
                        f"route {method} {path} is served twice: by a project router and by "
                        "another router or the shared server; rename one"
                    )
                seen.add(key)
