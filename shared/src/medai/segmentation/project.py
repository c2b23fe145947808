"""What the segmentation kit needs from a project: its binding, its data, words, its code.

Training, evaluation, prediction, serving and the command line are the kit's; a project
hands them one ``SegmentationProject`` built in its ``settings.py``. Its own network,
intensity normalisation, metrics and evaluation figure plug into the kind's extension
points (``medai.segmentation.extensions``); each left empty is the kind's default.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from medai.config import ConfigError
from medai.deployment.gate import GateScores
from medai.project import KitProject, ProjectBinding
from medai.segmentation.data import SegmentationData
from medai.segmentation.extensions import (
    IntensityNormalizer,
    OverlayFigure,
    StructureMetric,
    check_metric_names,
)
from medai.segmentation.settings import PreprocessingSettings, SegmentationSettings

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
        normalizer: The project's intensity normalisation (``utils/preprocessing.py``),
            used wherever a model trained with ``preprocessing.normalize: project`` runs;
            None: the kind's window or z-score.
        metrics: Per-structure metrics the project adds to the kind's Dice and HD95
            (``utils/metrics.py``), reported with the same bootstrap CIs.
        overlays: The project's evaluation figure (``utils/visualization.py``); None:
            the kind's overlays.
    """

    target: str
    network: NetworkFactory[SettingsT] | None = None
    normalizer: IntensityNormalizer | None = None
    metrics: Sequence[StructureMetric] = ()
    overlays: OverlayFigure | None = None

    def __post_init__(self) -> None:
        """Refuse two metrics of one name when the project is declared, not mid-evaluation."""
        check_metric_names(self.metrics)

    def build_network(
        self, settings: SettingsT, in_channels: int, out_channels: int
    ) -> SegmentationNetwork:
        """The network to train: the project's, else the kind's (``model.architecture``)."""
        if self.network is not None:
            return self.network(settings, in_channels, out_channels)
        from medai.segmentation.networks import build_network  # noqa: PLC0415 - torch

        return build_network(settings.model, out_channels, in_channels)

    def normalizer_for(self, prep: PreprocessingSettings) -> IntensityNormalizer | None:
        """The normaliser a model with preprocessing ``prep`` needs: the project's, or None.

        ``prep`` is the config's (training) or the model card's (a registered model).

        Raises:
            ConfigError: ``normalize: project`` but the project brings no normaliser.
        """
        if prep.normalize != "project":
            return None
        if self.normalizer is None:
            raise ConfigError(
                "preprocessing",
                "preprocessing.normalize",
                f"'project', but {self.name} supplies no normalizer (utils/preprocessing.py, "
                "SegmentationProject(normalizer=...)); expected window or zscore",
            )
        return self.normalizer

    def check_preprocessing(self, prep: PreprocessingSettings) -> None:
        """Before training: the project's normaliser is used exactly when the config says so.

        A normaliser the config does not select would be silently ignored, and a model
        trained without it would be served without it: the mistake is named instead.

        Raises:
            ConfigError: naming ``preprocessing.normalize``, its value and what fits.
        """
        if self.normalizer is not None and prep.normalize != "project":
            raise ConfigError(
                "preprocessing",
                "preprocessing.normalize",
                f"{prep.normalize!r}, but {self.name} brings its own normalizer "
                "(utils/preprocessing.py): expected 'project'",
            )
        self.normalizer_for(prep)

    def gate_scores(self, settings: SettingsT, alias: str) -> GateScores:
        """Evaluate the version behind ``alias`` for the deployment gate, tagging nothing."""
        from medai.segmentation.evaluation import evaluate, gate_scores  # noqa: PLC0415 - torch

        return gate_scores(evaluate(self, settings, alias, record=False))
