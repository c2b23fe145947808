"""Start a project's inference server: materialize the model, then exec uvicorn.

Two steps on purpose, as KServe separates its storage initializer from the server:
resolving the registry alias needs MLflow (~5 s to import), the server must not. The
launcher resolves and downloads, then replaces itself with a fresh uvicorn process that
reads only the materialized folder.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from medai.config.sections import ProjectSettings, TrackingSettings

HTTP_PROTOCOL = "medai.serving.connections:GuardedH11Protocol"
"""uvicorn's ``--http``: h11 with the request-head deadline and the connection cap.

A string, not an import: the launcher must not import the server (FastAPI, uvicorn).
"""


@dataclass(frozen=True)
class LaunchPlan:
    """What the server process will be started with."""

    model_dir: Path
    argv: list[str]
    env: dict[str, str]


def overrides_as_env(overrides: Sequence[str]) -> dict[str, str]:
    """``--set api.port=8001`` for this process becomes ``MEDAI__API__PORT=8001`` for the server."""
    env: dict[str, str] = {}
    for item in overrides:
        key, _, value = item.partition("=")
        env["MEDAI__" + "__".join(part.upper() for part in key.strip().split("."))] = value
    return env


def materialize_model(
    settings: ProjectSettings,
    repo_root: Path,
    models_root: Path,
    *,
    alias: str | None = None,
    version: int | None = None,
) -> Path:
    """Materialize the version ``medai.tracking.model_choice`` picks; returns its folder.

    Args:
        settings: The project's settings (registry, ``api`` aliases, environment).
        repo_root: The monorepo root (the embedded MLflow store).
        models_root: Where model folders go.
        alias: An alias named explicitly (default: ``api.model_alias``, then the fallback).
        version: A version named explicitly.
    """
    from medai.tracking.materialize import materialize  # noqa: PLC0415 - MLflow: launcher only
    from medai.tracking.model_choice import SERVE_NAMING, ModelRequest  # noqa: PLC0415
    from medai.tracking.store import configure_tracking  # noqa: PLC0415

    tracking: TrackingSettings = settings.tracking
    configure_tracking(tracking, repo_root)
    request = ModelRequest.from_settings(
        settings, alias=alias, version=version, naming=SERVE_NAMING
    )
    return materialize(request, models_root).folder.resolve()


def server_plan(
    app_factory: str,
    settings: ProjectSettings,
    model_dir: Path,
    *,
    overrides: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
) -> LaunchPlan:
    """The uvicorn command and environment that serve ``model_dir`` with ``app_factory``.

    uvicorn's own access log is off: it prints raw paths and query strings, and the app
    writes its own PHI-free JSON line per request. The HTTP protocol is ``HTTP_PROTOCOL``,
    which takes its timeouts and connection cap from the ``api`` settings the app reads.
    """
    api = settings.api
    env = dict(os.environ if environ is None else environ)
    env.update(overrides_as_env(overrides))
    env["MEDAI__API__MODEL_DIR"] = str(model_dir)
    argv = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        app_factory,
        "--host",
        api.host,
        "--port",
        str(api.port),
        "--workers",
        str(api.workers),
        "--http",
        HTTP_PROTOCOL,
        "--no-access-log",
        "--timeout-graceful-shutdown",
        "10",
    ]
    return LaunchPlan(model_dir=model_dir, argv=argv, env=env)


def exec_server(plan: LaunchPlan) -> None:  # pragma: no cover - replaces the process
    """Replace this process with the server (signals then reach uvicorn directly)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(plan.argv[0], plan.argv, plan.env)  # noqa: S606 - fixed argv built above
