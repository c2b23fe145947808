"""Entry point of every project image: ``python -m medai.containers serve|materialize|<script>``.

The images are built from one Dockerfile for all projects (``docker/Dockerfile.project``),
so the command cannot name a project's module; ``MEDAI_PROJECT`` (set at build time)
does, and the project's ``settings.BINDING`` gives host, port and workers:

- ``serve``: uvicorn on ``<package>.api.main:create_app`` with ``api.model_dir``
  (the serving image: no torch, no MLflow).
- ``materialize``: resolve the registry alias and write the model folder (the init
  step, run with the training image, which has MLflow).
- any other word: the project's ``scripts/<word>.py`` (``train``, ``evaluate``, ...).
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from medai.config import ProjectSettings
from medai.project import ProjectBinding

PROJECT_VARIABLE = "MEDAI_PROJECT"
EXIT_USAGE = 2


class ContainerUsageError(RuntimeError):
    """The container was started without a project or with an unknown command."""


def binding_of(project: str) -> ProjectBinding[ProjectSettings]:
    """The ``BINDING`` in ``<package>.settings`` of a project folder name like ``ct-seg``."""
    package = project.replace("-", "_")
    try:
        module = importlib.import_module(f"{package}.settings")
    except ModuleNotFoundError as exc:
        raise ContainerUsageError(
            f"{PROJECT_VARIABLE}={project!r}: no installed package {package!r}"
        ) from exc
    binding: ProjectBinding[ProjectSettings] = module.BINDING
    return binding


def command_line(argv: Sequence[str], environ: Mapping[str, str]) -> list[str]:
    """The process to run for ``argv`` (``[command, *args]``).

    Raises:
        ContainerUsageError: no ``MEDAI_PROJECT``, no command, or no such script.
    """
    project = environ.get(PROJECT_VARIABLE, "")
    if not project:
        raise ContainerUsageError(f"{PROJECT_VARIABLE} is not set (the image sets it at build)")
    if not argv:
        raise ContainerUsageError("usage: python -m medai.containers serve|materialize|SCRIPT")
    command, *rest = argv
    binding = binding_of(project)
    if command == "serve":
        from medai.serving.launch import server_plan  # noqa: PLC0415 - serve only

        settings = binding.load(environ=environ)
        if settings.api.model_dir is None:
            raise ContainerUsageError("serve needs MEDAI__API__MODEL_DIR (a materialized folder)")
        factory = f"{project.replace('-', '_')}.api.main:create_app"
        return server_plan(factory, settings, settings.api.model_dir, environ=environ).argv
    script_name = "serve" if command == "materialize" else command
    script = binding.project_dir / "scripts" / f"{script_name}.py"
    if not script.is_file():
        known = sorted(p.stem for p in (binding.project_dir / "scripts").glob("*.py"))
        raise ContainerUsageError(
            f"unknown command {command!r}; known: serve, materialize, {', '.join(known)}"
        )
    extra = ["--materialize-only"] if command == "materialize" else []
    return [sys.executable, str(Path(script)), *extra, *rest]


def main(argv: Sequence[str] | None = None) -> int:  # pragma: no cover - replaces the process
    """Replace this process with the command's (so signals reach it directly)."""
    try:
        args = command_line(sys.argv[1:] if argv is None else argv, os.environ)
    except ContainerUsageError as exc:
        print(f"error: {exc}", file=sys.stderr)  # noqa: T201 - the container's voice
        return EXIT_USAGE
    sys.stdout.flush()
    return os.execv(args[0], args)  # noqa: S606 - argv built above; execv never returns


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
