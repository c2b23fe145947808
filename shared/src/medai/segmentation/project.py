"""What the segmentation kit needs from a project: its binding, its data and two words.

Training, evaluation, prediction, serving and the command line are the kit's; a project
hands them one ``SegmentationProject`` built in its ``settings.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from medai.deployment.gate import GateScores
from medai.project import KitProject, ProjectBinding
from medai.segmentation.data import SegmentationData
from medai.segmentation.settings import SegmentationSettings

SettingsT = TypeVar("SettingsT", bound=SegmentationSettings)

DataSource = Callable[[SettingsT, ProjectBinding[SettingsT]], SegmentationData]
"""Returns the project's cases and split for the resolved settings."""


@dataclass(frozen=True)
class SegmentationProject(KitProject[SettingsT, SegmentationData]):
    """One segmentation project, as the kit's commands and server see it.

    Attributes:
        binding: Settings type and paths of the project.
        prepare_dataset: The project's data source.
        modality: The imaging modality, for help texts and API docs (``CT``, ``MRI``).
        target: What the model segments, for the API docs (``an organ and its lesions``).
    """

    target: str

    def gate_scores(self, settings: SettingsT, alias: str) -> GateScores:
        """Evaluate the version behind ``alias`` for the deployment gate, tagging nothing."""
        from medai.segmentation.evaluation import evaluate, gate_scores  # noqa: PLC0415 - torch

        return gate_scores(evaluate(self, settings, alias, record=False))
