"""Everything training reads, read and checked before torch, MONAI or MLflow are imported.

A label CSV naming a missing image, an unknown label value or an unreadable file then
stops ``train`` with one line in a second or two, not after half a minute of imports;
and nothing is tracked or registered for data that cannot be read.
"""

from __future__ import annotations

from dataclasses import dataclass

from medai.classification.data import ClassificationData, Item, RadiographItem, prepared_items
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
    """Check the preprocessing, load the project's data, check the thresholds, read every image.

    Every image is prepared as the model will see it, with the project's image step when
    ``preprocessing.image_step`` is ``project``.

    Raises:
        medai.config.ConfigError: ``preprocessing.image_step`` and the project disagree
            (before any data is read), or thresholds name labels the dataset lacks.
        medai.data.DatasetError: the label CSV or ``.npz`` cannot be used.
        medai.io.MedicalImageError: an image cannot be read (the file is named).
    """
    project.check_preprocessing(settings.preprocessing)
    step = project.image_step_for(settings.preprocessing)
    data = project.load_data(settings)
    thresholds = settings.evaluate.thresholds_for(data.labels)
    limits = settings.radiograph.limits()
    threads = settings.train.read_threads

    def prepared(items: list[RadiographItem]) -> list[Item]:
        return prepared_items(
            items, settings.preprocessing, limits, threads=threads, image_step=step
        )

    return TrainingInputs(
        data, thresholds, prepared(data.training_items()), prepared(data.validation_items())
    )
