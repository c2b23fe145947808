"""Invoke tasks of the monorepo; each takes ``--project=NAME`` (a folder under ``projects/``).

    uv run invoke --list
    uv run invoke train --project=ct-seg --set train.epochs=2
    uv run invoke test --project=all
    uv run invoke check              # every project against the standard layout

Tasks delegate: checks go through nox (same venvs as CI), project work through the
project's own ``scripts/`` entry points, repo checks and reports to ``tools/``.
"""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task
from tools.requirements import ExportError, write_requirements
from tools.structure_check import check_projects, format_report, load_task_names, read_project

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
    """Run ``projects/<project>/scripts/<name>.py``.

    Raises:
        Exit: the script is missing (status 2) or failed (its status), naming the project.
    """
    script = ROOT / "projects" / project / "scripts" / f"{name}.py"
    if not script.is_file():
        raise Exit(f"project {project!r} has no scripts/{name}.py", code=2)
    result = c.run(
        f"{shlex.quote(sys.executable)} {shlex.quote(str(script))} {args}".strip(),
        pty=sys.stdout.isatty(),
        warn=True,
    )
    if result is not None and result.failed:
        raise Exit(
            f"{name} failed for project {project!r} (exit status {result.exited})",
            code=result.exited or 1,
        )


def _each_project(c: Context, name: str, projects: list[str], args: str) -> None:
    """Run one script per project in turn; stop at the first failure; a summary line each.

    Raises:
        Exit: from the first project that fails, after the summary.
    """
    summary: list[str] = []
    try:
        for project in projects:
            start = time.perf_counter()
            try:
                _script(c, project, name, args)
            except Exit as failure:
                summary.append(f"{project}: {name} FAILED ({failure.message})")
                raise
            summary.append(f"{project}: {name} ok ({time.perf_counter() - start:.0f} s)")
    finally:
        summary.extend(f"{p}: {name} not run" for p in projects[len(summary) :])
        print("\n".join(summary))  # noqa: T201 - the task's report


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
    _each_project(c, "train", resolve_projects(project, allow_all=True), _overrides(set_))


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
    projects = resolve_projects(project, allow_all=True)
    _each_project(c, "evaluate", projects, f"{alias_arg} {_overrides(set_)}".strip())


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


@task(help={"project": "project folder under projects/, or 'all' (default)"})
def check(c: Context, project: str = ALL) -> None:  # noqa: ARG001 - invoke passes the context
    """Check projects against the standard layout; lists every problem, per project.

    The rules (standard files, requirements from uv.lock, Makefile, configs load, docs
    name real tasks, no weights or data in git) are in docs/project-structure.md.
    """
    results = check_projects(
        ROOT, resolve_projects(project, allow_all=True), task_names=load_task_names(ROOT)
    )
    print(format_report(results))  # noqa: T201 - the task's report
    if any(results.values()):
        raise Exit(code=1)


@task(help={"project": "project folder under projects/, or 'all' (default)"})
def requirements(c: Context, project: str = ALL) -> None:  # noqa: ARG001 - invoke passes it
    """Rewrite requirements.txt and requirements-dev.txt of projects from uv.lock (uv export)."""
    for name in resolve_projects(project, allow_all=True):
        try:
            written = write_requirements(ROOT, name, read_project(ROOT, name).distribution)
        except (ExportError, ValueError) as exc:
            raise Exit(str(exc), code=2) from None
        for path in written:
            print(f"wrote {path.relative_to(ROOT)}")  # noqa: T201


@task
def report(c: Context) -> None:  # noqa: ARG001 - invoke passes the context
    """Every project's registered model: champion and challenger with their metric and CI."""
    # MLflow takes seconds to import: only this task pays for it.
    from tools.model_report import ReportError, registry_report  # noqa: PLC0415

    packages = {name: read_project(ROOT, name).package for name in known_projects()}
    try:
        print(registry_report(ROOT, packages))  # noqa: T201 - the task's report
    except ReportError as exc:
        raise Exit(f"error: {exc}", code=2) from None
