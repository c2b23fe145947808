"""Bind a project's package to its folder, the repo root and its typed settings.

Every project needs the same four answers: where its folder is, where the monorepo
root is (configs/, the embedded MLflow store), how a configured relative path resolves,
and how its settings load. They are answered here once; a project's ``settings.py``
declares its settings class and one ``ProjectBinding``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import Generic, TypeVar

from medai.config import ProjectSettings, load_settings
from medai.paths import find_repo_root, project_dir_of

SettingsT = TypeVar("SettingsT", bound=ProjectSettings)


class ProjectBinding(Generic[SettingsT]):
    """One project: its package file, its settings type, and paths derived from them.

    Paths come from the installed package's location, never the working directory, so
    a command run from a sub-folder reads the same configs and the same MLflow store.
    """

    def __init__(self, package_file: str | Path, settings_type: type[SettingsT]) -> None:
        """Remember the package ``__file__`` and the settings class; nothing is read yet."""
        self._package_file = Path(package_file)
        self.settings_type = settings_type

    @cached_property
    def project_dir(self) -> Path:
        """``projects/<name>``."""
        return project_dir_of(self._package_file)

    @cached_property
    def repo_root(self) -> Path:
        """The monorepo root (holds ``configs/`` and the embedded MLflow store)."""
        return find_repo_root(self.project_dir)

    @property
    def name(self) -> str:
        """The project's folder name, which is also its name in tasks and the registry."""
        return self.project_dir.name

    def resolve_path(self, path: Path) -> Path:
        """A configured path; relative ones start at the project folder."""
        return path if path.is_absolute() else self.project_dir / path

    def load(
        self, overrides: Sequence[str] = (), environ: Mapping[str, str] | None = None
    ) -> SettingsT:
        """Resolve the settings from every config layer.

        Raises:
            medai.config.ConfigError: one line naming the file or variable and the key.
        """
        return load_settings(
            self.settings_type,
            self.project_dir,
            self.repo_root,
            overrides=overrides,
            environ=environ,
        )
