"""Everything training reads, read and checked before torch, MONAI or MLflow are imported.

A label CSV naming a missing image, an unknown label value or an unreadable file then
stops ``train`` with one line in a second or two, not after half a minute of imports;
and nothing is tracked or registered for data that cannot be read.
"""

from __future__ import annotations

from dataclasses import dataclass

from medai.classification.data import ClassificationData, Item, prepared_items
from medai.classification.project import ClassificationProject, SettingsT


@dataclass(frozen=True)
class TrainingInputs:
    """The dataset, its operating point and the prepared training and validation arrays."""

    data: ClassificationData
    thresholds: dict[str, float]
    train_items: list[Item]
    val_items: list[Item]


def read_training_inputs(
    project: ClassificationProject[SettingsT], settings: SettingsT
) -> TrainingInputs:
    """Load the project's data, check the thresholds against its labels, read every image.

    Raises:
        medai.config.ConfigError: e.g. thresholds naming labels the dataset lacks.
        medai.data.DatasetError: the label CSV or ``.npz`` cannot be used.
        medai.io.MedicalImageError: an image cannot be read (the file is named).
    """
    data = project.load_data(settings)
    thresholds = settings.evaluate.thresholds_for(data.labels)
    limits = settings.radiograph.limits()
    threads = settings.train.read_threads
    return TrainingInputs(
        data,
        thresholds,
        prepared_items(data.training_items(), settings.preprocessing, limits, threads=threads),
        prepared_items(data.validation_items(), settings.preprocessing, limits, threads=threads),
    )
