"""Load the repo's tooling modules (tasks.py, noxfile.py) from the root by path."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


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
