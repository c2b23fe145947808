"""Invoke tasks of the monorepo; each takes ``--project=NAME`` (a folder under ``projects/``).

    uv run invoke --list
    uv run invoke train --project=ct-seg --set train.epochs=2
    uv run invoke test --project=all

Tasks delegate: checks go through nox (same venvs as CI), project work through the
project's own ``scripts/`` entry points.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

ROOT = Path(__file__).resolve().parent
ALL = "all"
NON_PROJECT_TARGETS = ("shared", "tooling")
"""Test/lint targets that are not projects: the shared library and the repo's own tooling."""


def known_projects() -> list[str]:
    """Every folder under ``projects/`` that has a ``pyproject.toml``."""
    return sorted(p.parent.name for p in ROOT.glob("projects/*/pyproject.toml"))


def resolve_projects(project: str, *, allow_all: bool, extra: tuple[str, ...] = ()) -> list[str]:
    """Expand ``--project``; an unknown name stops with the list of known ones.

    Args:
        project: a project folder name, or ``all``.
        allow_all: whether ``all`` is accepted.
        extra: further accepted names (e.g. ``shared`` for checks).

    Raises:
        Exit: with status 2 and a one-line message.
    """
    known = [*known_projects(), *extra]
    if project == ALL and allow_all:
        return known_projects()
    if project not in known:
        choices = ", ".join([*known, ALL] if allow_all else known)
        raise Exit(f"unknown project {project!r}; known: {choices}", code=2)
    return [project]


def _overrides(values: list[str] | None) -> str:
    return " ".join(f"--set {shlex.quote(v)}" for v in values or [])


def _script(c: Context, project: str, name: str, args: str = "") -> None:
    script = ROOT / "projects" / project / "scripts" / f"{name}.py"
    if not script.is_file():
        raise Exit(f"project {project!r} has no scripts/{name}.py", code=2)
    c.run(
        f"{shlex.quote(sys.executable)} {shlex.quote(str(script))} {args}".strip(),
        pty=sys.stdout.isatty(),
    )


def _nox(c: Context, session: str, projects: list[str], extra: str = "") -> None:
    names = " ".join(shlex.quote(p) for p in projects)
    nox = f"{shlex.quote(sys.executable)} -m nox --reuse-venv=yes"
    c.run(f"{nox} -s {session} -- {names} {extra}".strip())


@task(
    help={
        "project": "project folder under projects/, or 'all'",
        "set": "config override KEY=VALUE (repeatable)",
    },
    iterable=["set_"],
)
def train(c: Context, project: str, set_: list[str] | None = None) -> None:
    """Train a project's model, track the run in MLflow and register it as challenger."""
    for name in resolve_projects(project, allow_all=True):
        _script(c, name, "train", _overrides(set_))


@task(
    help={
        "project": "project folder under projects/, or 'all'",
        "alias": "registry alias (default: champion, else challenger)",
        "set": "config override KEY=VALUE (repeatable)",
    },
    iterable=["set_"],
)
def evaluate(c: Context, project: str, alias: str = "", set_: list[str] | None = None) -> None:
    """Evaluate the registered model: per-case metrics, 95% CIs, overlays, all in MLflow."""
    alias_arg = f"--alias {shlex.quote(alias)}" if alias else ""
    for name in resolve_projects(project, allow_all=True):
        _script(c, name, "evaluate", f"{alias_arg} {_overrides(set_)}")


@task(
    help={
        "project": "project folder under projects/",
        "input": "input image (e.g. a .nii.gz file or a DICOM series folder)",
        "output": "where to write the prediction",
        "alias": "registry alias (default: champion, else challenger)",
        "set": "config override KEY=VALUE (repeatable)",
    },
    iterable=["set_"],
)
def predict(
    c: Context,
    project: str,
    input_: str,
    output: str,
    alias: str = "",
    set_: list[str] | None = None,
) -> None:
    """Run the registered model on one input and write its prediction."""
    (name,) = resolve_projects(project, allow_all=False)
    alias_arg = f"--alias {shlex.quote(alias)}" if alias else ""
    _script(
        c,
        name,
        "predict",
        f"{shlex.quote(input_)} {shlex.quote(output)} {alias_arg} {_overrides(set_)}",
    )


CHECK_HELP = {"project": "project folder under projects/, 'shared', 'tooling' or 'all' (default)"}


def _check_targets(project: str) -> list[str]:
    if project == ALL:
        return []  # nox's default: every target
    return resolve_projects(project, allow_all=False, extra=NON_PROJECT_TARGETS)


@task(help=CHECK_HELP)
def lint(c: Context, project: str = ALL) -> None:
    """Ruff lint and format check (via the nox 'lint' session)."""
    _nox(c, "lint", _check_targets(project))


@task(help=CHECK_HELP)
def typecheck(c: Context, project: str = ALL) -> None:
    """Type-check with mypy --strict (via the nox 'typecheck' session)."""
    _nox(c, "typecheck", _check_targets(project))


@task(help={**CHECK_HELP, "pytest": "extra pytest arguments, e.g. '-m \"not integration\"'"})
def test(c: Context, project: str = ALL, pytest: str = "") -> None:
    """Run tests, each target in its own venv (via the nox 'tests' session)."""
    _nox(c, "tests", _check_targets(project), pytest)


@task(
    help={
        "project": "project folder under projects/",
        "port": "port to listen on (default: api.port from api_configs/fastapi.yaml)",
        "backend": "onnx (default: ONNX Runtime, no torch) or torch",
        "alias": "registry alias (default: champion, else challenger)",
        "set": "config override KEY=VALUE (repeatable), e.g. api.host=0.0.0.0",
    },
    iterable=["set_"],
)
def serve(
    c: Context,
    project: str,
    port: int = 0,
    backend: str = "",
    alias: str = "",
    set_: list[str] | None = None,
) -> None:
    """Materialize the registered model (champion, else challenger) and serve it over HTTP."""
    (name,) = resolve_projects(project, allow_all=False)
    args = [_overrides(set_)]
    if port:
        args.append(f"--port {port}")
    if backend:
        args.append(f"--backend {shlex.quote(backend)}")
    if alias:
        args.append(f"--alias {shlex.quote(alias)}")
    _script(c, name, "serve", " ".join(a for a in args if a))
