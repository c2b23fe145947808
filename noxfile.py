"""Nox sessions of the monorepo: lint, typecheck and tests (one per project), structure.

Every session gets its own uv-built venv. ``tests`` installs only the project under
test (and the shared library) from the lock file, so a project cannot pass by
importing something only another project declares.

    uv run nox                      # lint, typecheck, tests of everything
    uv run nox -s tests -- ct-seg   # one project's tests (extra args go to pytest)
    uv run nox -s "tests(ct-seg)"   # the same, by session id
    uv run nox -R -s tests          # fast inner loop: reuse venvs, skip installs
    uv run nox -s structure         # every project against the standard layout
"""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import nox

ROOT = Path(__file__).parent
nox.options.default_venv_backend = "uv"
# What `uv run nox` runs with no -s: the checks, then `tests` for every target (as .ci/run).
nox.options.sessions = [
    "lint",
    "typecheck",
    "structure",
    "images",
    "image_deps",
    "manifests",
    "tests",
]
nox.options.error_on_missing_interpreters = True
PYTHON = "3.11"


def _distribution(pyproject: Path) -> str:
    with pyproject.open("rb") as handle:
        return str(tomllib.load(handle)["project"]["name"])


def discover_projects() -> dict[str, str]:
    """Folder name -> distribution name, for every ``projects/*/pyproject.toml``."""
    return {p.parent.name: _distribution(p) for p in sorted(ROOT.glob("projects/*/pyproject.toml"))}


PROJECTS = discover_projects()
# Test targets: what `uv sync` installs into the target's own venv, and where its tests are.
TARGETS: dict[str, tuple[tuple[str, ...], str]] = {
    "shared": (("--package", "medai", "--group", "test", "--all-extras"), "shared/tests"),
    **{
        name: (("--package", dist, "--group", "test", "--all-extras"), f"projects/{name}/tests")
        for name, dist in PROJECTS.items()
    },
    # The repo's own tooling (tasks.py, noxfile.py, tools/) drives the root venv: every
    # member installed (configs are loaded, the registry report reads MLflow) plus dev.
    "tooling": ((), "tests"),
}
TOOLING_PATHS = ("tests", "tools", "tasks.py", "noxfile.py")


def _split_posargs(session: nox.Session) -> tuple[list[str], list[str]]:
    """Leading target names, then pytest arguments: ``-- ct-seg -m "not integration"``.

    Only the words before the first option can be targets, so an option's value
    (``not integration``) is never taken for a project; a leading word that is neither a
    target nor a path is refused with the list of known targets.
    """
    names: list[str] = []
    args = list(session.posargs)
    while args and not args[0].startswith("-"):
        word = args[0]
        if word in TARGETS or word == "all":
            names.append(args.pop(0))
        elif "/" in word or "::" in word or (ROOT / word).exists():
            break  # a test path for pytest
        else:
            session.error(f"unknown project {word!r}; known: {', '.join(TARGETS)}")
    return [n for n in names if n != "all"], args


def _sync(session: nox.Session, *args: str) -> None:
    session.run_install(
        "uv",
        "sync",
        "--locked",
        *args,
        env={"UV_PROJECT_ENVIRONMENT": session.virtualenv.location},
        silent=True,
    )


def _import_names(targets: list[str]) -> list[str]:
    names = ["medai"] if "shared" in targets else []
    return names + [PROJECTS[t].replace("-", "_") for t in targets if t in PROJECTS]


def _paths(target: str) -> tuple[str, ...]:
    return {"shared": ("shared",), "tooling": TOOLING_PATHS}.get(target, (f"projects/{target}",))


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """Ruff lint and format check (whole repo, or the named projects)."""
    _sync(session, "--only-group", "dev")
    names, extra = _split_posargs(session)
    paths = [path for n in names for path in _paths(n)] or ["."]
    session.run("ruff", "check", *paths, *extra)
    session.run("ruff", "format", "--check", *paths)


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the shared library and the projects (or the named ones)."""
    _sync(session, "--all-packages")
    names, extra = _split_posargs(session)
    packages = _import_names(names or list(TARGETS))
    if packages:
        session.run("mypy", *[arg for p in packages for arg in ("-p", p)], *extra)
    if not names or "tooling" in names:
        session.run("mypy", "noxfile.py", "tasks.py", "tools")


@nox.session(python=PYTHON)
@nox.parametrize("target", list(TARGETS), ids=list(TARGETS))
def tests(session: nox.Session, target: str) -> None:
    """One target's tests in a venv holding only that target's locked dependencies."""
    names, pytest_args = _split_posargs(session)
    if names and target not in names:
        session.skip(f"not selected ({', '.join(names)})")
    sync_args, test_dir = TARGETS[target]
    _sync(session, *sync_args)
    session.run("pytest", test_dir, *pytest_args)


@nox.session(python=PYTHON)
def structure(session: nox.Session) -> None:
    """Every project (or the named ones) against the standard layout: docs/project-structure.md."""
    _sync(session, "--all-packages")  # projects installed: the check loads their configs
    names, _ = _split_posargs(session)
    session.run("python", "-m", "tools.structure_check", *names)


@nox.session(python=PYTHON)
def images(session: nox.Session) -> None:
    """hadolint on the image recipe (and each project's link to it); shellcheck on scripts.

    No Docker engine runs in CI, so the images are checked as text: hadolint for the
    Dockerfile, shellcheck (where installed) for the build/run/deploy/setup scripts.
    """
    _sync(session, "--only-group", "dev")
    links = sorted(str(p.relative_to(ROOT)) for p in ROOT.glob("projects/*/docker/Dockerfile"))
    session.run("hadolint", "docker/Dockerfile.project", "docker/mlflow/Dockerfile", *links)
    patterns = (
        "docker/scripts/*.sh",
        "projects/*/docker/scripts/*.sh",
        "projects/*/scripts/setup/*.sh",
    )
    scripts = sorted(str(p.relative_to(ROOT)) for pattern in patterns for p in ROOT.glob(pattern))
    if shutil.which("shellcheck") is None:
        session.warn("shellcheck is not installed; scripts not checked")
        return
    session.run("shellcheck", "-x", *scripts, external=True)


@nox.session(python=PYTHON)
def image_deps(session: nox.Session) -> None:
    """The images' install steps without Docker: the recipe's `uv sync` lines, run for real.

    Each project's serve and train stages are installed into fresh folders; the serving
    install must import the project's API without torch, MONAI or MLflow, and its size is
    printed (tools/image_deps.py). Names after `--` pick projects.
    """
    _sync(session, "--only-group", "dev")
    names, _ = _split_posargs(session)
    session.run("python", "-m", "tools.image_deps", *[n for n in names if n in PROJECTS])


@nox.session(python=PYTHON)
def manifests(session: nox.Session) -> None:
    """Every project's Kubernetes manifests against the API schemas: server and training.

    deploy/kubernetes is rendered per project with `kubectl kustomize` (offline) and each
    object validated strictly with kubernetes-validate: the model server in both
    environments (tools/manifests.py), the training Job of 2 pods on CPU and with 2 GPUs
    a pod (tools/training_jobs.py).
    """
    _sync(session, "--only-group", "dev")
    session.run("python", "-m", "tools.manifests", "--all", "--validate")
    session.run("python", "-m", "tools.training_jobs", "--all", "--nnodes", "2", "--validate")
