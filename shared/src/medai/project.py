"""Bind a project's package to its folder, the repo root and its typed settings.

Every project needs the same four answers: where its folder is, where the monorepo
root is (configs/, the embedded MLflow store), how a configured relative path resolves,
and how its settings load. They are answered here once; a project's ``settings.py``
declares its settings class and one ``ProjectBinding``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Generic, TypeVar

from medai.config import ProjectSettings, load_settings
from medai.paths import find_repo_root, project_dir_of

SettingsT = TypeVar("SettingsT", bound=ProjectSettings)
DataT = TypeVar("DataT")


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


@dataclass(frozen=True)
class KitProject(Generic[SettingsT, DataT]):
    """What every kit (segmentation, classification) needs from a project.

    A kit subclasses this with its own data type and the words its help texts and API
    docs use; its commands and server reach the project only through these members.

    Attributes:
        binding: Settings type and paths of the project.
        prepare_dataset: The project's data source: the kit's data for resolved settings.
        modality: What an input is, for help texts and API docs (``CT``, ``chest radiograph``).
    """

    binding: ProjectBinding[SettingsT]
    prepare_dataset: Callable[[SettingsT, ProjectBinding[SettingsT]], DataT]
    modality: str

    @property
    def name(self) -> str:
        """The project's name (its folder, its registry and experiment default)."""
        return self.binding.name

    def load_data(self, settings: SettingsT) -> DataT:
        """Run the project's data source."""
        return self.prepare_dataset(settings, self.binding)

    def code_version(self) -> str:
        """The installed project package's version (``0.0.0`` when not installed)."""
        try:
            return version(self.name)
        except PackageNotFoundError:
            return "0.0.0"
