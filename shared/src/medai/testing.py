"""Helpers for the projects' tests that would otherwise be copied between them."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterable

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
