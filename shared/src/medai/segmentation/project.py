"""What the segmentation kit needs from a project: its binding, its data and two words.

Training, evaluation, prediction, serving and the command line are the kit's; a project
hands them one ``SegmentationProject`` built in its ``settings.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Generic, TypeVar

from medai.deployment.gate import GateScores
from medai.project import ProjectBinding
from medai.segmentation.data import SegmentationData
from medai.segmentation.settings import SegmentationSettings

SettingsT = TypeVar("SettingsT", bound=SegmentationSettings)

DataSource = Callable[[SettingsT, ProjectBinding[SettingsT]], SegmentationData]
"""Returns the project's cases and split for the resolved settings."""


@dataclass(frozen=True)
class SegmentationProject(Generic[SettingsT]):
    """One segmentation project, as the kit's commands and server see it.

    Attributes:
        binding: Settings type and paths of the project.
        prepare_dataset: The project's data source.
        modality: The imaging modality, for help texts and API docs (``CT``, ``MRI``).
        target: What the model segments, for the API docs (``an organ and its lesions``).
    """

    binding: ProjectBinding[SettingsT]
    prepare_dataset: DataSource[SettingsT]
    modality: str
    target: str

    @property
    def name(self) -> str:
        """The project's name (its folder, its registry and experiment default)."""
        return self.binding.name

    def load_data(self, settings: SettingsT) -> SegmentationData:
        """Run the project's data source."""
        return self.prepare_dataset(settings, self.binding)

    def gate_scores(self, settings: SettingsT, alias: str) -> GateScores:
        """Evaluate the version behind ``alias`` for the deployment gate, tagging nothing."""
        from medai.segmentation.evaluation import evaluate, gate_scores  # noqa: PLC0415 - torch

        return gate_scores(evaluate(self, settings, alias, record=False))

    def code_version(self) -> str:
        """The installed project package's version (``0.0.0`` when not installed)."""
        try:
            return version(self.name)
        except PackageNotFoundError:
            return "0.0.0"
