"""Nox sessions of the monorepo: lint, typecheck and tests, the last one per project.

Every session gets its own uv-built venv. ``tests`` installs only the project under
test (and the shared library) from the lock file, so a project cannot pass by
importing something only another project declares.

    uv run nox                      # lint, typecheck, tests of everything
    uv run nox -s tests -- ct-seg   # one project's tests (extra args go to pytest)
    uv run nox -s "tests(ct-seg)"   # the same, by session id
    uv run nox -R -s tests          # fast inner loop: reuse venvs, skip installs
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import nox

ROOT = Path(__file__).parent
nox.options.default_venv_backend = "uv"
nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.error_on_missing_interpreters = True
PYTHON = "3.11"


def _distribution(pyproject: Path) -> str:
    with pyproject.open("rb") as handle:
        return str(tomllib.load(handle)["project"]["name"])


def discover_projects() -> dict[str, str]:
    """Folder name -> distribution name, for every ``projects/*/pyproject.toml``."""
    return {p.parent.name: _distribution(p) for p in sorted(ROOT.glob("projects/*/pyproject.toml"))}


PROJECTS = discover_projects()
# Test targets: the shared library plus every project, each with its own venv.
TARGETS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "shared": ("medai", "shared/tests", ("--extra", "tracking")),
    **{name: (dist, f"projects/{name}/tests", ()) for name, dist in PROJECTS.items()},
}


def _split_posargs(session: nox.Session) -> tuple[list[str], list[str]]:
    """Separate target names from pytest arguments; refuse a name that is neither."""
    names = [a for a in session.posargs if a in TARGETS or a == "all"]
    rest = [a for a in session.posargs if a not in names]
    for arg in rest:
        if (
            not arg.startswith("-")
            and "/" not in arg
            and "=" not in arg
            and not (ROOT / arg).exists()
        ):
            session.error(f"unknown project {arg!r}; known: {', '.join(TARGETS)}")
    return [n for n in names if n != "all"], rest


def _sync(session: nox.Session, *args: str) -> None:
    session.run_install(
        "uv",
        "sync",
        "--locked",
        *args,
        env={"UV_PROJECT_ENVIRONMENT": session.virtualenv.location},
        silent=True,
    )


def _import_name(target: str) -> str:
    return "medai" if target == "shared" else TARGETS[target][0].replace("-", "_")


def _paths(target: str) -> str:
    return "shared" if target == "shared" else f"projects/{target}"


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """Ruff lint and format check (whole repo, or the named projects)."""
    _sync(session, "--only-group", "dev")
    names, extra = _split_posargs(session)
    paths = [_paths(n) for n in names] or ["."]
    session.run("ruff", "check", *paths, *extra)
    session.run("ruff", "format", "--check", *paths)


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the shared library and the projects (or the named ones)."""
    _sync(session, "--all-packages")
    names, extra = _split_posargs(session)
    packages = [_import_name(n) for n in (names or TARGETS)]
    session.run("mypy", *[arg for p in packages for arg in ("-p", p)], *extra)
    if not names:
        session.run("mypy", "noxfile.py", "tasks.py")


@nox.session(python=PYTHON)
@nox.parametrize("target", list(TARGETS), ids=list(TARGETS))
def tests(session: nox.Session, target: str) -> None:
    """One target's tests in a venv holding only that target's locked dependencies."""
    names, pytest_args = _split_posargs(session)
    if names and target not in names:
        session.skip(f"not selected ({', '.join(names)})")
    distribution, test_dir, extras = TARGETS[target]
    _sync(session, "--package", distribution, "--group", "test", *extras)
    session.run("pytest", test_dir, *pytest_args)
