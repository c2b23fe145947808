"""Load the repo's tooling (tasks.py, noxfile.py, tools/) and build throwaway workspaces."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
# `tools` is imported from the repo root, as Invoke's loader and `python -m tools...` do.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tools.requirements import uv_command, write_requirements  # noqa: E402 - root on sys.path
from tools.structure_check import (  # noqa: E402
    MAKE_TARGETS,
    REQUIRED_DOCS,
    STANDARD_FILES,
    STANDARD_FOLDERS,
)

DEMO = "demo-proj"
DEMO_PACKAGE = "demo_proj"
DEMO_TASKS = frozenset(MAKE_TARGETS) - {"build", "deploy"}
"""The tasks a demo workspace's tasks.py would have: today's standard targets."""

ROOT_PYPROJECT = """\
[project]
name = "demo-root"
version = "0"
requires-python = ">=3.11"
dependencies = ["demo-proj"]

[tool.uv]
package = false

[tool.uv.workspace]
members = ["projects/*"]

[tool.uv.sources]
demo-proj = { workspace = true }
"""

PROJECT_PYPROJECT = """\
[project]
name = "demo-proj"
version = "0.1.0"
requires-python = ">=3.11"
dependencies = []

[dependency-groups]
test = []

[build-system]
requires = ["uv_build>=0.9,<0.14"]
build-backend = "uv_build"
"""

# Stands in for a project's settings module: fails like medai's loader on a bad value.
SETTINGS = """\
import os
from pathlib import Path


class ConfigError(ValueError):
    pass


def load():
    env = os.environ.get("MEDAI_ENV") or "development"
    configs = Path(__file__).resolve().parents[2] / "configs"
    if "epochs: x" in (configs / f"{env}.yaml").read_text():
        raise ConfigError(
            f"projects/demo-proj/configs/{env}.yaml: train.epochs: "
            "Input should be a valid integer (got 'x')"
        )
    return env
"""

README = """\
# demo-proj

    uv run invoke train --project=demo-proj
    uv run invoke test --project=all
"""


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"repo_{name}", ROOT / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def tasks() -> ModuleType:
    return _load("tasks")


@pytest.fixture(scope="session")
def noxfile() -> ModuleType:
    return _load("noxfile")


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


def _makefile_for(project: str, targets) -> str:
    rules = [
        f"{target}:  ## {target}\n\tcd ../.. && uv run invoke {target} --project={project}\n"
        for target in sorted(targets)
    ]
    return "ROOT := ../..\n\n" + "\n".join(rules)


def _git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", *args],  # noqa: S607
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


@pytest.fixture(scope="session")
def makefile_for():
    """``(project, targets) -> text`` of a Makefile delegating each target to its task."""
    return _makefile_for


@pytest.fixture(scope="session")
def git():
    """Run ``git`` in a folder with a fixed identity; returns its stdout."""
    return _git


@pytest.fixture
def demo_workspace(tmp_path, monkeypatch) -> Path:
    """A git work tree holding a uv workspace with one project that follows every rule.

    Files are staged (``git add``), which is what ``git ls-files`` reports.
    """
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "no-global-gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    root = tmp_path / "repo"
    project = root / "projects" / DEMO
    project.mkdir(parents=True)
    (root / "pyproject.toml").write_text(ROOT_PYPROJECT)
    (root / ".gitignore").write_text("projects/*/data/\nmlruns/\noutputs/\n")
    (project / "pyproject.toml").write_text(PROJECT_PYPROJECT)
    for pattern in (*STANDARD_FILES, *REQUIRED_DOCS):
        path = project / pattern.format(package=DEMO_PACKAGE, name=DEMO)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("# placeholder\n")
    for folder in STANDARD_FOLDERS:
        (project / folder).mkdir(parents=True)
        (project / folder / ".gitkeep").write_text("")
    (project / "src" / DEMO_PACKAGE / "settings.py").write_text(SETTINGS)
    (project / "README.md").write_text(README)
    (project / "Makefile").write_text(_makefile_for(DEMO, DEMO_TASKS))
    subprocess.run(
        [*uv_command(), "lock", "--offline", "--quiet"],
        cwd=root,
        check=True,
        capture_output=True,
    )
    write_requirements(root, DEMO, DEMO)
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", "-A")
    return root
