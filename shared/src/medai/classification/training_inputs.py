"""Everything training reads, checked before torch, MONAI or MLflow are imported.

A label CSV naming a missing image, an unknown label value or an unreadable file then
stops ``train`` with one line in a second or two, not after half a minute of imports;
and nothing is tracked or registered for data that cannot be read. Every image is read
and prepared once here and dropped (``medai.classification.prepared``): training reads
each one again when it needs it, so memory does not grow with the dataset.
"""

from __future__ import annotations

from dataclasses import dataclass

from medai.classification.data import ClassificationData
from medai.classification.prepared import (
    ImagePreparation,
    PreparedRadiographs,
    check_radiographs,
)
from medai.classification.project import ClassificationProject, SettingsT
from medai.config import ConfigError
from medai.data.array_cache import ArrayCache, open_array_cache


@dataclass(frozen=True)
class TrainingInputs:
    """The dataset, its operating point, and its training and validation items (read per item)."""

    data: ClassificationData
    thresholds: dict[str, float]
    train_items: PreparedRadiographs
    val_items: PreparedRadiographs


def read_training_inputs(
    project: ClassificationProject[SettingsT], settings: SettingsT
) -> TrainingInputs:
    """Check the preprocessing, load the project's data, check the thresholds and every image.

    Every image is read and prepared as the model will see it, with the project's image
    step when ``preprocessing.image_step`` is ``project``, then dropped (with
    ``train.cache: disk``, stored in the cache instead).

    Raises:
        medai.config.ConfigError: ``preprocessing.image_step`` and the project disagree
            (before any data is read), thresholds name labels the dataset lacks, or
            ``train.cache_dir`` cannot be used.
        medai.data.DatasetError: the label CSV or ``.npz`` cannot be used.
        medai.io.MedicalImageError: an image cannot be read (the file is named).
    """
    project.check_preprocessing(settings.preprocessing)
    preparation = ImagePreparation(
        settings.preprocessing,
        settings.radiograph.limits(),
        project.image_step_for(settings.preprocessing),
    )
    data = project.load_data(settings)
    thresholds = settings.evaluate.thresholds_for(data.labels)
    cache = _cache(project, settings, preparation)
    threads = settings.train.read_threads
    return TrainingInputs(
        data,
        thresholds,
        check_radiographs(data.training_items(), preparation, threads=threads, cache=cache),
        check_radiographs(data.validation_items(), preparation, threads=threads, cache=cache),
    )


def _cache(
    project: ClassificationProject[SettingsT], settings: SettingsT, preparation: ImagePreparation
) -> ArrayCache | None:
    """The disk cache of ``preparation`` (``train.cache: disk``), or None.

    Raises:
        ConfigError: ``train.cache_dir`` cannot be created or written.
    """
    if settings.train.cache != "disk":
        return None
    root = project.binding.resolve_path(settings.train.cache_dir)
    try:
        return open_array_cache(root, preparation.cache_settings())
    except OSError as exc:
        raise ConfigError(
            "train.cache_dir",
            None,
            f"{root} cannot hold the image cache ({exc.strerror or exc}); expected a "
            "writable folder (or set train.cache: none)",
        ) from None
