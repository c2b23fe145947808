"""Helpers for the projects' tests that would otherwise be copied between them."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from medai.config import ProjectSettings
from medai.project import KitProject, ProjectBinding

SettingsT = TypeVar("SettingsT", bound=ProjectSettings)

HEAVY_PACKAGES = frozenset({"torch", "monai", "mlflow"})
"""Packages a light path (serving, config, IO) must not import: seconds each to load."""


def packages_loaded_by(modules: Iterable[str], watch: Iterable[str] = HEAVY_PACKAGES) -> set[str]:
    """Which of ``watch`` a fresh interpreter has in ``sys.modules`` after importing ``modules``.

    A fresh subprocess, because the test process itself has usually imported them already.
    """
    watched = sorted(set(watch))
    code = (
        "import importlib, sys\n"
        f"for name in {sorted(modules)!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(','.join(sorted({{m.split('.')[0] for m in sys.modules}} & set({watched!r}))))\n"
    )
    result = subprocess.run(  # noqa: S603 - this interpreter, fixed code
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return {name for name in result.stdout.strip().split(",") if name}


def write_demo_repo(root: Path, name: str, package: str, base_yaml: str) -> Path:
    """A monorepo folder under ``root`` holding one project's configs; nothing installed.

    Args:
        root: The repo root to create.
        name: The project's folder (``projects/<name>``).
        package: Its import name (``src/<package>``).
        base_yaml: Its ``configs/base.yaml``; ``production.yaml`` forbids synthetic data.

    Returns:
        The package's ``__init__.py`` path, for a ``ProjectBinding`` (it need not exist).
    """
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text("[tool.uv.workspace]\nmembers = []\n", encoding="utf-8")
    configs = root / "projects" / name / "configs"
    configs.mkdir(parents=True)
    (configs / "base.yaml").write_text(base_yaml, encoding="utf-8")
    (configs / "development.yaml").write_text("", encoding="utf-8")
    (configs / "production.yaml").write_text("data:\n  allow_synthetic: false\n", encoding="utf-8")
    return root / "projects" / name / "src" / package / "__init__.py"


@dataclass(frozen=True)
class DemoProject(Generic[SettingsT]):
    """A kit project in a throwaway repo folder, as a kit's tests use it."""

    root: Path
    project: KitProject[SettingsT, Any]

    @property
    def binding(self) -> ProjectBinding[SettingsT]:
        """The project's binding."""
        return self.project.binding

    def load(self, *overrides: str, env: str = "development") -> SettingsT:
        """The settings of ``env`` with ``--set`` style overrides (the real environment unread)."""
        return self.binding.load(list(overrides), environ={"MEDAI_ENV": env})


def start_test_client(
    client_type: Any,  # noqa: ANN401 - fastapi's TestClient class, imported by the caller
    app: Any,  # noqa: ANN401 - a FastAPI app made by medai.serving.create_app
    timeout: float = 60.0,
) -> Any:  # noqa: ANN401 - the entered client
    """Enter a ``TestClient`` on ``app`` and wait until its model is loaded (or failed to).

    The caller exits the client. The class comes from the caller, so that this module
    does not import FastAPI (and its TestClient warning stays scoped to the test suite).
    """
    client = client_type(app)
    client.__enter__()
    deadline = time.monotonic() + timeout
    while client.get("/ready").status_code != 200 and time.monotonic() < deadline:  # noqa: PLR2004
        if app.state.model_error:
            break
        time.sleep(0.02)
    return client
