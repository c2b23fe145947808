"""Locate the monorepo root and a project's folder without relying on the working directory."""

from __future__ import annotations

import tomllib
from pathlib import Path


class RepoLayoutError(RuntimeError):
    """The code runs outside the monorepo layout it expects."""


def find_repo_root(start: Path) -> Path:
    """Return the uv workspace root at or above ``start``.

    The tracking store and the monorepo ``configs/`` live at the root; resolving it from
    the code's own location (not the working directory) keeps a task run from a
    sub-folder from opening a second MLflow store.

    Raises:
        RepoLayoutError: no ``pyproject.toml`` with ``[tool.uv.workspace]`` above ``start``.
    """
    for candidate in (start.resolve(), *start.resolve().parents):
        pyproject = candidate / "pyproject.toml"
        if pyproject.is_file():
            with pyproject.open("rb") as handle:
                data = tomllib.load(handle)
            if "workspace" in data.get("tool", {}).get("uv", {}):
                return candidate
    raise RepoLayoutError(
        f"no uv workspace root (pyproject.toml with [tool.uv.workspace]) above {start}"
    )


def project_dir_of(package_file: str | Path) -> Path:
    """Return the project folder (``projects/<name>``) of a package in src layout.

    Args:
        package_file: the ``__file__`` of the project's top-level package,
            i.e. ``projects/<name>/src/<pkg>/__init__.py``.

    Raises:
        RepoLayoutError: the folder has no ``configs/base.yaml``.
    """
    project_dir = Path(package_file).resolve().parents[2]
    if not (project_dir / "configs" / "base.yaml").is_file():
        raise RepoLayoutError(
            f"{project_dir} has no configs/base.yaml; is the project installed editable?"
        )
    return project_dir
