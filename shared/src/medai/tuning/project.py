"""Find a project by its folder name, and its kind's training, without the working directory.

``--project cxr-cls`` is the folder ``projects/cxr-cls`` of the monorepo this library is
installed from; its package ``cxr_cls`` declares ``PROJECT`` in ``settings.py`` (the
standard layout). The kind is the registered kind whose ``project`` type the object is,
so a project made by hand works as one made from the template does.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import medai
from medai.kinds import Kind, available_kinds
from medai.paths import find_repo_root
from medai.project import KitProject, ProjectBinding
from medai.tuning.errors import TuningError


@dataclass(frozen=True)
class TunedProject:
    """A project the search trains: its ``PROJECT``, binding and kind.

    Attributes:
        project: The project's ``KitProject`` (``<package>.settings.PROJECT``).
        kind: Its registered kind (``train`` and ``task`` are resolved from it).
    """

    project: KitProject[Any, Any]
    kind: Kind

    @property
    def binding(self) -> ProjectBinding[Any]:
        """Settings type and paths."""
        return self.project.binding

    @property
    def name(self) -> str:
        """The folder name."""
        return self.project.name


def known_projects(repo_root: Path) -> list[str]:
    """The folders under ``projects/`` that hold a project (a ``configs/base.yaml``)."""
    return sorted(p.parent.parent.name for p in repo_root.glob("projects/*/configs/base.yaml"))


def find_project(name: str, repo_root: Path | None = None) -> TunedProject:
    """The project in ``projects/<name>``.

    Raises:
        TuningError: no such folder, its package is not installed, it declares no
            ``PROJECT``, or no registered kind takes it.
    """
    root = repo_root or find_repo_root(Path(medai.__file__).parent)
    known = known_projects(root)
    if name not in known:
        raise TuningError(f"unknown project {name!r}; known: {', '.join(known) or 'none'}")
    package = name.replace("-", "_")
    try:
        module = importlib.import_module(f"{package}.settings")
    except ModuleNotFoundError as exc:
        raise TuningError(
            f"project {name!r}: its package {package!r} is not installed ({exc}); uv sync"
        ) from None
    project = getattr(module, "PROJECT", None)
    if not isinstance(project, KitProject):
        raise TuningError(f"project {name!r}: {package}.settings declares no PROJECT")
    for kind in available_kinds().values():
        if isinstance(project, kind.resolve("project")):
            return TunedProject(project=project, kind=kind)
    raise TuningError(f"project {name!r}: no registered kind takes {type(project).__name__}")
