"""The model a classification server holds: card, labels, operating point, a predict function.

One loader per ``api.backend``: ``onnx`` runs the materialized ONNX graph on ONNX Runtime
(no torch); ``torch`` loads the same registered version with PyTorch, for checking the
export or for GPUs. Image size, label names and thresholds come from the model's card
(what it was trained and registered with); the accepted radiographs and the work limits
(``limits``, checked before a radiograph is resized) from the config.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from medai.classification.extensions import ImageStep
from medai.classification.onnx_classifier import ClassifierOutput
from medai.classification.preprocessing import check_radiograph
from medai.classification.project import ClassificationProject, SettingsT
from medai.classification.settings import (
    ClassificationSettings,
    PreprocessingSettings,
    preprocessing_of,
)
from medai.config import ConfigError
from medai.config.sections import WorkLimits
from medai.io import RadiographLimits
from medai.project import ProjectBinding
from medai.serving import BundleError, ModelBundle, ModelCard
from medai.serving.project_app import ModelLoader

Predict = Callable[[NDArray[np.float32]], ClassifierOutput]
"""Probabilities and CAMs of one radiograph's pixels ``(H, W)`` in ``[0, 1]``."""


@dataclass(frozen=True)
class ClassificationServedModel:
    """A loaded classifier, whatever runs it (ONNX Runtime or PyTorch).

    Attributes:
        card: Which model version this is (``/v1/model``).
        labels: Label names in the network's output order.
        thresholds: Operating point per label.
        limits: The radiographs the server accepts (from the config).
        predict: Probabilities and CAMs of one radiograph.
    """

    card: ModelCard
    labels: tuple[str, ...]
    thresholds: dict[str, float]
    limits: RadiographLimits
    predict: Predict


@dataclass(frozen=True)
class CardContents:
    """What the card says about using the model."""

    preprocessing: PreprocessingSettings
    labels: tuple[str, ...]
    thresholds: dict[str, float]


def read_card(card: ModelCard, settings: ClassificationSettings) -> CardContents:
    """Preprocessing, labels and thresholds as registered with the model.

    A card without thresholds gets the config's (``evaluate.thresholds``).

    Raises:
        BundleError: the card has no labels, or preprocessing or thresholds that do not
            fit this code (an older or foreign model); the message names the version.
    """
    where = f"{card.name} version {card.version}"
    raw_labels = card.extra.get("labels") or {}
    try:
        labels = tuple(str(raw_labels[key]) for key in sorted(raw_labels, key=int))
        preprocessing = preprocessing_of(card.extra.get("preprocessing"), settings, where)
        stored = card.extra.get("thresholds") or {}
        thresholds = {label: float(stored[label]) for label in labels if label in stored}
    except (ValueError, TypeError) as exc:
        raise BundleError(f"{where}: {exc}") from None
    if not labels:
        raise BundleError(f"{where}: its card names no labels; is it a classifier?")
    if len(thresholds) != len(labels):
        try:
            thresholds = settings.evaluate.thresholds_for(labels)
        except ValueError as exc:  # ConfigError: a per-label mapping for other labels
            raise BundleError(f"{where}: {exc}") from None
    return CardContents(preprocessing, labels, thresholds)


def needed_step(
    card: ModelCard, preprocessing: PreprocessingSettings, step: ImageStep | None
) -> ImageStep | None:
    """The image step to run a model with: ``step`` if it was trained with one, else None.

    Raises:
        BundleError: it was trained with the project's step and none is given.
    """
    if preprocessing.image_step != "project":
        return None
    if step is None:
        raise BundleError(
            f"{card.name} version {card.version} was trained with the project's own image "
            "step (preprocessing.image_step: project) and none was given"
        )
    return step


def load_onnx_model(
    model_dir: Path, settings: ClassificationSettings, image_step: ImageStep | None = None
) -> ClassificationServedModel:
    """Serve the ONNX graph of a materialized model folder on ONNX Runtime.

    ``image_step`` is the project's, for a model trained with ``image_step: project``.

    Raises:
        BundleError: the folder, its card or its graph cannot be served as they are.
    """
    from medai.classification.onnx_classifier import OnnxClassifier  # noqa: PLC0415 - onnxruntime

    bundle = ModelBundle.load(model_dir)
    contents = read_card(bundle.card, settings)
    step = needed_step(bundle.card, contents.preprocessing, image_step)
    try:
        classifier = OnnxClassifier(
            bundle.onnx_path,
            contents.preprocessing.image_size,
            contents.labels,
            standardize=contents.preprocessing.standardize,
            limits=settings.limits,
            image_step=step,
        )
    except ValueError as exc:  # the graph does not fit the card
        raise BundleError(str(exc)) from None
    return ClassificationServedModel(
        bundle.card,
        contents.labels,
        contents.thresholds,
        settings.radiograph.limits(),
        classifier.predict,
    )


def load_torch_model(
    binding: ProjectBinding[SettingsT],
    model_dir: Path,
    settings: ClassificationSettings,
    image_step: ImageStep | None = None,
) -> ClassificationServedModel:
    """Serve the same registered version with PyTorch (imports torch, MONAI and MLflow).

    ``image_step`` is the project's, for a model trained with ``image_step: project``.
    """
    from medai.classification.registry import load_model_version  # noqa: PLC0415 - heavy
    from medai.classification.torch_classifier import TorchClassifier  # noqa: PLC0415

    card = ModelBundle.load(model_dir).card
    contents = read_card(card, settings)
    step = needed_step(card, contents.preprocessing, image_step)
    network = load_model_version(binding, settings, card.version)
    classifier = TorchClassifier(
        network,
        contents.preprocessing.image_size,
        contents.labels,
        standardize=contents.preprocessing.standardize,
        image_step=step,
    )
    predict = checked_predict(
        classifier.predict,
        contents.preprocessing.image_size,
        len(contents.labels),
        settings.limits,
    )
    return ClassificationServedModel(
        card, contents.labels, contents.thresholds, settings.radiograph.limits(), predict
    )


def checked_predict(predict: Predict, size: int, classes: int, limits: WorkLimits) -> Predict:
    """``predict`` that first refuses a radiograph whose work would exceed ``limits``.

    ``OnnxClassifier`` checks by itself; this wraps a classifier that does not.
    """

    def checked(pixels: NDArray[np.float32]) -> ClassifierOutput:
        check_radiograph(pixels, size, classes, limits)
        return predict(pixels)

    return checked


def model_loaders(
    project: ClassificationProject[SettingsT],
) -> dict[str, ModelLoader[SettingsT]]:
    """The project's loader per ``api.backend`` value, with its image step where needed.

    A model trained with the project's image step on a server whose project has none
    fails to load (``/ready`` says why) rather than being served without it.
    """

    def image_step(model_dir: Path, settings: SettingsT) -> ImageStep | None:
        card = ModelBundle.load(model_dir).card
        try:
            return project.image_step_for(read_card(card, settings).preprocessing)
        except ConfigError as exc:  # the model needs code this server does not have
            raise BundleError(f"{card.name} version {card.version}: {exc.problem}") from None

    def onnx_loader(model_dir: Path, settings: SettingsT) -> ClassificationServedModel:
        return load_onnx_model(model_dir, settings, image_step(model_dir, settings))

    def torch_loader(model_dir: Path, settings: SettingsT) -> ClassificationServedModel:
        return load_torch_model(
            project.binding, model_dir, settings, image_step(model_dir, settings)
        )

    return {"onnx": onnx_loader, "torch": torch_loader}
