"""What the classification kit needs from a project: its binding, its data, words, its code.

Training, evaluation, prediction, serving and the command line are the kit's; a project
hands them one ``ClassificationProject`` built in its ``settings.py``. Its own network,
image step, metrics and evaluation figures plug into the kind's extension points
(``medai.classification.extensions``); each left empty is the kind's default.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from medai.classification.data import ClassificationData
from medai.classification.extensions import (
    EvaluationFigures,
    ImageStep,
    LabelMetric,
    NetworkFactory,
    check_metric_names,
)
from medai.classification.settings import ClassificationSettings, PreprocessingSettings
from medai.config import ConfigError
from medai.deployment.gate import GateScores
from medai.project import KitProject, ProjectBinding

if TYPE_CHECKING:
    from medai.classification.networks import CamClassifier

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
        network: The project's own network (``models/<package>.py``),
            ``(settings, in_channels, num_labels) -> CamClassifier``; None: the kind's
            ``CamClassifier`` from ``model``. Training checks it fits the data first.
        image_step: The project's image step (``utils/preprocessing.py``), used wherever
            a model trained with ``preprocessing.image_step: project`` runs; None: the
            kind's resize alone.
        metrics: Per-label metrics the project adds to the kind's (``utils/metrics.py``),
            reported with the same bootstrap CIs and read their declared way by the gate.
        figures: The project's evaluation figures (``utils/visualization.py``), drawn
            beside the kind's; None: the kind's alone.
    """

    findings: Mapping[str, str] = field(default_factory=dict)
    network: NetworkFactory[SettingsT] | None = None
    image_step: ImageStep | None = None
    metrics: Sequence[LabelMetric] = ()
    figures: EvaluationFigures | None = None

    def __post_init__(self) -> None:
        """Refuse two metrics of one name when the project is declared, not mid-evaluation."""
        check_metric_names(self.metrics)

    def build_network(
        self, settings: SettingsT, in_channels: int, num_labels: int
    ) -> CamClassifier:
        """The project's network if it brings one, else the kind's (seed torch first)."""
        if self.network is not None:
            return self.network(settings, in_channels, num_labels)
        from medai.classification.model_factory import build_network  # noqa: PLC0415 - torch

        return build_network(settings.model, num_labels, in_channels)

    def image_step_for(self, prep: PreprocessingSettings) -> ImageStep | None:
        """The image step a model with preprocessing ``prep`` needs: the project's, or None.

        ``prep`` is the config's (training) or the model's registered one.

        Raises:
            ConfigError: ``image_step: project`` but the project brings no image step.
        """
        if prep.image_step != "project":
            return None
        if self.image_step is None:
            raise ConfigError(
                "preprocessing",
                "preprocessing.image_step",
                f"'project', but {self.name} supplies no image step (utils/preprocessing.py, "
                "ClassificationProject(image_step=...)); expected none",
            )
        return self.image_step

    def check_preprocessing(self, prep: PreprocessingSettings) -> None:
        """Before training: the project's image step is used exactly when the config says so.

        A step the config does not select would be silently ignored, and a model trained
        without it would be served without it: the mistake is named instead.

        Raises:
            ConfigError: naming ``preprocessing.image_step``, its value and what fits.
        """
        if self.image_step is not None and prep.image_step != "project":
            raise ConfigError(
                "preprocessing",
                "preprocessing.image_step",
                f"{prep.image_step!r}, but {self.name} brings its own image step "
                "(utils/preprocessing.py): expected 'project'",
            )
        self.image_step_for(prep)

    def gate_scores(self, settings: SettingsT, alias: str) -> GateScores:
        """Evaluate the version behind ``alias`` for the deployment gate, tagging nothing."""
        from medai.classification.evaluation import (  # noqa: PLC0415 - torch, sklearn
            evaluate,
            gate_scores,
        )

        return gate_scores(evaluate(self, settings, alias, record=False))
