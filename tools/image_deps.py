"""Run the images' install steps without Docker: the Dockerfile's own ``uv sync`` lines.

There is no Docker engine in CI, so an image cannot be built; what can break between
a lock-file change and a build is the install step. This tool reads the ``uv sync``
command of each build stage out of ``docker/Dockerfile.project`` (not a copy of it: a
change to the recipe is what gets checked), runs it for a project into a fresh
environment folder, the way the build stage runs it in ``/app``, and then checks what
the stage promises:

- ``serve``: the project's API imports, and torch, MONAI and MLflow are absent. Its
  installed size is printed: that is the serving image's Python payload.
- ``train``: torch, MONAI and MLflow are present.
- the tracking server (``docker/mlflow/Dockerfile``): MLflow, psycopg2 and boto3, and no
  project code or torch.

    uv run python -m tools.image_deps                 # every project, both stages
    uv run python -m tools.image_deps ct-seg --stage serve
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tools.projects import known_projects
from tools.requirements import uv_command

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = Path("docker/Dockerfile.project")
TRACKING_DOCKERFILE = Path("docker/mlflow/Dockerfile")


@dataclass(frozen=True)
class Stage:
    """An image's install step and what the installed environment must and must not hold."""

    image: str
    dockerfile: Path
    build_stage: str
    present: tuple[str, ...]
    absent: tuple[str, ...] = ()
    imports_project_api: bool = False


STAGES = {
    "serve": Stage(
        "serving",
        DOCKERFILE,
        "build-serve",
        present=("onnxruntime", "fastapi", "medai"),
        absent=("torch", "monai", "mlflow"),
        imports_project_api=True,
    ),
    "train": Stage(
        "training", DOCKERFILE, "build-train", present=("torch", "monai", "mlflow", "onnx")
    ),
}
"""Per-project image targets -> the build stage whose ``uv sync`` installs them."""
TRACKING_SERVER = Stage(
    "tracking-server",
    TRACKING_DOCKERFILE,
    "build",
    present=("mlflow", "psycopg2", "boto3"),
    absent=("torch", "medai"),
)
"""The monorepo stack's MLflow server (docker/docker-compose.yml): no project, no torch."""
EXIT_FAILED, EXIT_USAGE = 1, 2


class ImageDepsError(RuntimeError):
    """The recipe has no install step for a stage, or an install or check failed."""


@dataclass(frozen=True)
class InstallReport:
    """What one stage's install produced (for one project, or for the tracking server)."""

    label: str
    command: str
    size_bytes: int
    largest: tuple[tuple[str, int], ...]
    problems: tuple[str, ...]

    def lines(self) -> list[str]:
        """Human-readable summary: status, size, the largest packages and any problems."""
        status = "ok" if not self.problems else "FAILED"
        head = f"{self.label}: {status}, installed {_mb(self.size_bytes)}"
        top = ", ".join(f"{name} {_mb(size)}" for name, size in self.largest)
        return [head, f"  ran: {self.command}", f"  largest: {top}"] + [
            f"  problem: {problem}" for problem in self.problems
        ]


def _mb(size: int) -> str:
    return f"{size / 1e6:,.1f} MB"


def _logical_lines(text: str) -> list[str]:
    r"""Dockerfile lines with ``\\`` continuations joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", text)
    return [line.strip() for line in joined.splitlines() if not line.lstrip().startswith("#")]


def sync_arguments(dockerfile_text: str, stage: str) -> list[str]:
    """The arguments after ``uv sync`` in the RUN step of build stage ``stage``.

    Raises:
        ImageDepsError: the stage is missing or has no ``uv sync`` step.
    """
    current = ""
    for line in _logical_lines(dockerfile_text):
        from_match = re.match(r"FROM\s+\S+(?:\s+AS\s+(\S+))?", line, re.IGNORECASE)
        if from_match:
            current = from_match.group(1) or ""
            continue
        if current != stage or not line.upper().startswith("RUN "):
            continue
        for command in re.split(r"&&|;", line[len("RUN ") :]):
            words = shlex.split(command)
            while words and words[0].startswith("--"):  # RUN's own --mount=... options
                words.pop(0)
            if words[:2] == ["uv", "sync"]:
                return words[2:]
    raise ImageDepsError(f"{DOCKERFILE}: build stage {stage!r} has no `uv sync` step")


def _expand(arguments: list[str], project: str) -> list[str]:
    """Substitute the ``PROJECT`` build argument as Docker would."""
    return [re.sub(r"\$\{PROJECT\}|\$PROJECT\b", project, argument) for argument in arguments]


def _site_packages(venv: Path) -> Path:
    found = sorted(venv.glob("lib/python*/site-packages"))
    if not found:
        raise ImageDepsError(f"{venv}: no site-packages after the install")
    return found[0]


def _tree_size(path: Path) -> int:
    if path.is_file() and not path.is_symlink():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def package_sizes(site_packages: Path) -> dict[str, int]:
    """Size on disk per top-level entry of ``site-packages`` (dist-info folders excluded)."""
    return {
        entry.name: _tree_size(entry)
        for entry in site_packages.iterdir()
        if not entry.name.endswith((".dist-info", ".pth")) and entry.name != "__pycache__"
    }


def _importable(python: Path, modules: Sequence[str]) -> dict[str, bool]:
    """Which of ``modules`` the environment's interpreter can find (without importing them)."""
    probe = (
        "import importlib.util, json, sys;"
        "print(json.dumps({m: importlib.util.find_spec(m) is not None for m in sys.argv[1:]}))"
    )
    result = subprocess.run(  # noqa: S603 - the fresh environment's interpreter, fixed code
        [str(python), "-c", probe, *modules], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise ImageDepsError(f"{python}: {result.stderr.strip().splitlines()[-1:]}")
    import json  # noqa: PLC0415 - only here

    found: dict[str, bool] = json.loads(result.stdout)
    return found


def _api_imports(python: Path, project: str) -> str:
    """Empty when ``<package>.api.main`` imports in the environment, else the error line."""
    module = f"{project.replace('-', '_')}.api.main"
    result = subprocess.run(  # noqa: S603 - the fresh environment's interpreter, fixed code
        [str(python), "-c", f"import {module}"], capture_output=True, text=True, check=False
    )
    if result.returncode == 0:
        return ""
    last = (result.stderr.strip().splitlines() or ["(no output)"])[-1]
    return f"import {module} failed: {last}"


def stage_problems(stage: Stage, found: dict[str, bool], api_error: str) -> list[str]:
    """What a stage's environment lacks or holds that it must not."""
    problems = [api_error] if api_error else []
    problems += [
        f"{m} is missing (the {stage.image} image needs it)"
        for m in stage.present
        if not found.get(m, False)
    ]
    problems += [
        f"{m} is installed (the {stage.image} image must not have it)"
        for m in stage.absent
        if found.get(m, False)
    ]
    return problems


def install_stage(root: Path, project: str, stage: Stage, workdir: Path) -> InstallReport:
    """Run the recipe's ``uv sync`` for ``stage`` into a fresh folder and check the result.

    Args:
        root: the repo (the build context: the Dockerfiles copy all of it).
        project: the ``PROJECT`` build argument; empty for the tracking server.
        stage: which install step, and what its environment must hold.
        workdir: where the fresh environment folder is made.

    Raises:
        ImageDepsError: the recipe has no such step, or ``uv sync`` failed.
    """
    text = (root / stage.dockerfile).read_text(encoding="utf-8")
    arguments = _expand(sync_arguments(text, stage.build_stage), project)
    label = f"{project or stage.dockerfile} [{stage.image}]"
    venv = workdir / f"{project or 'stack'}-{stage.image}"
    env = {
        **{k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"},
        "UV_PROJECT_ENVIRONMENT": str(venv),
        "UV_PYTHON_DOWNLOADS": "never",
    }
    command = [*uv_command(), "sync", *arguments, "--python", sys.executable]
    result = subprocess.run(  # noqa: S603 - uv with the recipe's own arguments, no shell
        command, cwd=root, env=env, capture_output=True, text=True, check=False
    )
    shown = "uv sync " + shlex.join(arguments)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise ImageDepsError(f"{label}: `{shown}` failed: {last}")
    python = venv / "bin" / "python"
    found = _importable(python, (*stage.present, *stage.absent))
    api_error = _api_imports(python, project) if stage.imports_project_api else ""
    problems = stage_problems(stage, found, api_error)
    sizes = package_sizes(_site_packages(venv))
    largest = tuple(sorted(sizes.items(), key=lambda item: -item[1])[:5])
    return InstallReport(label, shown, sum(sizes.values()), largest, tuple(problems))


def main(argv: Sequence[str] | None = None) -> int:
    """Install each named project's image stages into fresh folders; exit 1 on any problem."""
    parser = argparse.ArgumentParser(prog="python -m tools.image_deps", description=__doc__)
    parser.add_argument("projects", nargs="*", help="project folders (default: all)")
    parser.add_argument("--stage", action="append", choices=sorted(STAGES), dest="stages")
    args = parser.parse_args(argv)
    known = known_projects(ROOT)
    unknown = [p for p in args.projects if p not in known]
    if unknown:
        message = f"unknown project(s) {', '.join(unknown)}; known: {', '.join(known)}"
        print(message, file=sys.stderr)  # noqa: T201 - the tool's one-line error
        return EXIT_USAGE
    jobs = [(p, STAGES[s]) for p in args.projects or known for s in args.stages or list(STAGES)]
    if not args.projects and not args.stages:
        jobs.append(("", TRACKING_SERVER))
    failed = False
    with tempfile.TemporaryDirectory(prefix="image-deps-") as workdir:
        for project, stage in jobs:
            try:
                report = install_stage(ROOT, project, stage, Path(workdir))
            except ImageDepsError as error:
                print(f"error: {error}", file=sys.stderr)  # noqa: T201
                failed = True
                continue
            print("\n".join(report.lines()), flush=True)  # noqa: T201 - the tool's report
            failed = failed or bool(report.problems)
    return EXIT_FAILED if failed else 0


if __name__ == "__main__":
    sys.exit(main())
