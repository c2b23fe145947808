"""Which projects the monorepo has: the one rule every tool and task uses."""

from __future__ import annotations

from pathlib import Path


def known_projects(root: Path) -> list[str]:
    """Every folder under ``projects/`` that has a ``pyproject.toml``, sorted."""
    return sorted(p.parent.name for p in root.glob("projects/*/pyproject.toml"))
