"""A real MLflow registry (SQLite) and a scored demo project, for the deployment commands.

The project side is a scorer with a fixed Dice per model version: the kits' evaluations
are tested where they live; here the question is what deploy and rollback do to the
registry and what they report.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from medai.config import ProjectSettings
from medai.deployment import GateMetric, GateScores
from medai.project import ProjectBinding
from medai.testing import migrated_mlflow_store, write_demo_repo

NAME = "demo-proj"


@dataclass
class ScoredProject:
    """A project whose evaluation gives a fixed Dice per model version (``dice``)."""

    binding: ProjectBinding[ProjectSettings]
    dice: dict[str, float]

    def gate_scores(self, settings: ProjectSettings, alias: str) -> GateScores:
        del settings
        version = str(MlflowClient().get_model_version_by_alias(NAME, alias).version)
        return GateScores(
            version, "dice_foreground", {"dice_foreground": GateMetric(self.dice[version])}
        )


@dataclass
class DemoRegistry:
    """The demo repo's MLflow registry, as the tests seed and read it."""

    client: MlflowClient
    repo: Path
    name: str = NAME
    dice: dict[str, float] = field(default_factory=dict)
    """The Dice the project's evaluation gives each version (the project reads it)."""

    def add_version(self, dice: float | None = None, *, challenger: bool = True) -> str:
        """Register a new version (no artifact needed), by default as the challenger.

        Args:
            dice: What the project's evaluation will score it; None leaves it unscored.
            challenger: Whether it becomes the challenger.

        Returns:
            The new version.
        """
        if not self.client.search_registered_models(f"name='{self.name}'"):
            self.client.create_registered_model(self.name)
        version = str(
            self.client.create_model_version(self.name, source=self.repo.as_uri()).version
        )
        if challenger:
            self.client.set_registered_model_alias(self.name, "challenger", version)
        if dice is not None:
            self.dice[version] = dice
        return version

    def aliases(self) -> dict[str, str]:
        """Alias -> version (as the string the commands report) of the registered model."""
        aliases = self.client.get_registered_model(self.name).aliases
        return {alias: str(version) for alias, version in aliases.items()}

    def tags(self, version: str) -> dict[str, str]:
        """The tags of one version: where deploy and rollback record what they did."""
        return dict(self.client.get_model_version(self.name, version).tags)


@pytest.fixture(scope="session")
def empty_store(tmp_path_factory) -> Path:
    """MLflow's tables created once: migrating takes seconds, copying the file does not."""
    return migrated_mlflow_store(tmp_path_factory.mktemp("template"))


@pytest.fixture
def repo(tmp_path, monkeypatch, empty_store) -> Iterator[Path]:
    """A one-project monorepo whose tracking store is a fresh SQLite file; a key is set."""
    for variable in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MEDAI_ENV", "MEDAI_API_KEYS"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("MEDAI_API_KEYS", "a-long-enough-test-key-0123456789")
    write_demo_repo(
        tmp_path, NAME, "demo_proj", f"project: {NAME}\ndocker:\n  image: medai/{NAME}\n"
    )
    shutil.copyfile(empty_store, tmp_path / "mlflow.db")
    yield tmp_path
    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)


@pytest.fixture
def project(repo, registry) -> ScoredProject:
    """The demo project, scoring each version as ``registry.add_version`` was told."""
    package_file = repo / "projects" / NAME / "src" / "demo_proj" / "__init__.py"
    return ScoredProject(ProjectBinding(package_file, ProjectSettings), registry.dice)


@pytest.fixture
def registry(repo) -> DemoRegistry:
    """The repo's registry, empty."""
    uri = f"sqlite:///{repo / 'mlflow.db'}"
    return DemoRegistry(MlflowClient(tracking_uri=uri, registry_uri=uri), repo)
