"""What the segmentation kit needs from a project: its binding, its data and two words.

Training, evaluation, prediction, serving and the command line are the kit's; a project
hands them one ``SegmentationProject`` built in its ``settings.py``. The one piece a
project may replace is the network (``network``); the kind's residual UNet otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from medai.deployment.gate import GateScores
from medai.project import KitProject, ProjectBinding
from medai.segmentation.data import SegmentationData
from medai.segmentation.settings import SegmentationSettings

if TYPE_CHECKING:
    from medai.segmentation.networks import SegmentationNetwork

SettingsT = TypeVar("SettingsT", bound=SegmentationSettings)

DataSource = Callable[[SettingsT, ProjectBinding[SettingsT]], SegmentationData]
"""Returns the project's cases and split for the resolved settings."""

NetworkFactory = Callable[[SettingsT, int, int], "SegmentationNetwork"]
"""Builds a project's network from its settings, input channels and output channels."""


@dataclass(frozen=True)
class SegmentationProject(KitProject[SettingsT, SegmentationData]):
    """One segmentation project, as the kit's commands and server see it.

    Attributes:
        binding: Settings type and paths of the project.
        prepare_dataset: The project's data source.
        modality: The imaging modality, for help texts and API docs (``CT``, ``MRI``).
        target: What the model segments, for the API docs (``an organ and its lesions``).
        network: The project's own network, ``(settings, in_channels, out_channels)`` ->
            ``SegmentationNetwork`` (outputs: one per label, or one per region); None:
            the kind's UNet from ``model``. Training checks it fits the data first.
    """

    target: str
    network: NetworkFactory[SettingsT] | None = None

    def build_network(
        self, settings: SettingsT, in_channels: int, out_channels: int
    ) -> SegmentationNetwork:
        """The network to train: the project's, else the kind's (``model.architecture``)."""
        if self.network is not None:
            return self.network(settings, in_channels, out_channels)
        from medai.segmentation.networks import build_network  # noqa: PLC0415 - torch

        return build_network(settings.model, out_channels, in_channels)

    def gate_scores(self, settings: SettingsT, alias: str) -> GateScores:
        """Evaluate the version behind ``alias`` for the deployment gate, tagging nothing."""
        from medai.segmentation.evaluation import evaluate, gate_scores  # noqa: PLC0415 - torch

        return gate_scores(evaluate(self, settings, alias, record=False))
