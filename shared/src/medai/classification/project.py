"""What the classification kit needs from a project: its binding, its data and its words.

Training, evaluation, prediction, serving and the command line are the kit's; a project
hands them one ``ClassificationProject`` built in its ``settings.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from medai.classification.data import ClassificationData
from medai.classification.settings import ClassificationSettings
from medai.deployment.gate import GateScores
from medai.project import KitProject, ProjectBinding

SettingsT = TypeVar("SettingsT", bound=ClassificationSettings)

DataSource = Callable[[SettingsT, ProjectBinding[SettingsT]], ClassificationData]
"""Returns the project's labelled images and split for the resolved settings."""


@dataclass(frozen=True)
class ClassificationProject(KitProject[SettingsT, ClassificationData]):
    """One classification project, as the kit's commands and server see it.

    Attributes:
        binding: Settings type and paths of the project.
        prepare_dataset: The project's data source.
        modality: What an input image is, for help texts and API docs
            (``chest radiograph``).
        findings: Label name -> a one-line description, for the API docs. The served
            labels themselves come from the model (a model knows what it was trained on).
    """

    findings: Mapping[str, str] = field(default_factory=dict)

    def gate_scores(self, settings: SettingsT, alias: str) -> GateScores:
        """Evaluate the version behind ``alias`` for the deployment gate, tagging nothing."""
        from medai.classification.evaluation import (  # noqa: PLC0415 - torch, sklearn
            evaluate,
            gate_scores,
        )

        return gate_scores(evaluate(self, settings, alias, record=False))
