"""What the classification kit needs from a project: its binding, its data and its words.

Training, evaluation, prediction, serving and the command line are the kit's; a project
hands them one ``ClassificationProject`` built in its ``settings.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Generic, TypeVar

from medai.classification.data import ClassificationData
from medai.classification.settings import ClassificationSettings
from medai.deployment.gate import GateScores
from medai.project import ProjectBinding

SettingsT = TypeVar("SettingsT", bound=ClassificationSettings)

DataSource = Callable[[SettingsT, ProjectBinding[SettingsT]], ClassificationData]
"""Returns the project's labelled images and split for the resolved settings."""


@dataclass(frozen=True)
class ClassificationProject(Generic[SettingsT]):
    """One classification project, as the kit's commands and server see it.

    Attributes:
        binding: Settings type and paths of the project.
        prepare_dataset: The project's data source.
        modality: What an input image is, for help texts and API docs
            (``chest radiograph``).
        findings: Label name -> a one-line description, for the API docs. The served
            labels themselves come from the model (a model knows what it was trained on).
    """

    binding: ProjectBinding[SettingsT]
    prepare_dataset: DataSource[SettingsT]
    modality: str
    findings: Mapping[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The project's name (its folder, its registry and experiment default)."""
        return self.binding.name

    def load_data(self, settings: SettingsT) -> ClassificationData:
        """Run the project's data source."""
        return self.prepare_dataset(settings, self.binding)

    def gate_scores(self, settings: SettingsT, alias: str) -> GateScores:
        """Evaluate the version behind ``alias`` for the deployment gate, tagging nothing."""
        from medai.classification.evaluation import (  # noqa: PLC0415 - torch, sklearn
            evaluate,
            gate_scores,
        )

        return gate_scores(evaluate(self, settings, alias, record=False))

    def code_version(self) -> str:
        """The installed project package's version (``0.0.0`` when not installed)."""
        try:
            return version(self.name)
        except PackageNotFoundError:
            return "0.0.0"
