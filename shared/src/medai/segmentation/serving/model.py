"""The model a segmentation server holds: a card for ``/v1/model`` and a ``segment`` function.

One loader per ``api.backend``: ``onnx`` runs the materialized ONNX graph on ONNX
Runtime (no torch); ``torch`` loads the same registered version with PyTorch, for
checking the export or for GPUs. Either ``segment`` refuses a volume whose work exceeds
``settings.limits`` (``WorkLimitError``) before allocating anything.

The card says what the model takes and gives: its channel names (``medai.channels``: a
multi-channel model takes a ``ChannelVolume``, a one-channel model today's ``Volume``)
and, for a sigmoid model, its regions (``medai.regions``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from medai.config import ConfigError
from medai.io import ChannelVolume, DicomAcceptance, Volume
from medai.project import ProjectBinding
from medai.segmentation.extensions import IntensityNormalizer
from medai.segmentation.project import SegmentationProject, SettingsT
from medai.segmentation.regions import CHANNELS_TAG, REGIONS_TAG, Regions, regions_from_json
from medai.segmentation.settings import (
    InferenceSettings,
    PreprocessingSettings,
    SegmentationSettings,
    preprocessing_of,
)
from medai.serving import BundleError, ModelBundle, ModelCard
from medai.serving.project_app import ModelLoader

DEFAULT_LABELS = {0: "background"}
_TAG_PREFIX = "medai."


@dataclass(frozen=True)
class SegmentationServedModel:
    """A loaded segmentation model, whatever runs it (ONNX Runtime or PyTorch)."""

    card: ModelCard
    labels: dict[int, str]
    segment: Callable[[Volume | ChannelVolume], np.ndarray]
    accept: DicomAcceptance = field(default_factory=DicomAcceptance)
    """The DICOM inputs the project accepts (its ``input`` settings)."""
    channels: tuple[str, ...] = ()
    """The channel names the model takes, in order; empty for an untagged one-channel model."""
    regions: Regions | None = None
    """A sigmoid model's regions; None for a softmax model."""

    @property
    def multichannel(self) -> bool:
        """Whether uploads are a 4D NIfTI or one part per channel (else today's uploads)."""
        return len(self.channels) > 1


def labels_of(card: ModelCard) -> dict[int, str]:
    """Label value -> name as registered with the model (background alone when unknown)."""
    raw = card.extra.get("labels") or {}
    return {int(k): str(v) for k, v in raw.items()} or dict(DEFAULT_LABELS)


def channels_of(card: ModelCard) -> tuple[str, ...]:
    """The channel names the model takes (``medai.channels``); empty when not tagged.

    Raises:
        BundleError: the tag is not a JSON list of distinct names (case-insensitively:
            uploads name their parts in any case).
    """
    raw = card.tags.get(CHANNELS_TAG)
    if raw is None:
        return ()
    where = f"{card.name} version {card.version}"
    try:
        names = json.loads(raw)
    except json.JSONDecodeError:
        names = None
    if (
        not isinstance(names, list)
        or not names
        or not all(isinstance(name, str) and name for name in names)
        or len({name.lower() for name in names}) != len(names)
    ):
        raise BundleError(
            f"{where}: tag {CHANNELS_TAG!r} must be a JSON list of distinct channel names, "
            f"got {raw[:200]!r}"
        )
    return tuple(names)


def regions_of(card: ModelCard) -> Regions | None:
    """A sigmoid model's regions (``medai.regions``); None for a softmax model.

    Raises:
        BundleError: the tag does not hold a valid region definition.
    """
    raw = card.extra.get(REGIONS_TAG.removeprefix(_TAG_PREFIX))
    if raw is None:
        return None
    try:
        return regions_from_json(raw, f"{card.name} version {card.version}")
    except ValueError as exc:
        raise BundleError(str(exc)) from None


def settings_from_card(
    card: ModelCard, settings: SegmentationSettings
) -> tuple[PreprocessingSettings, InferenceSettings]:
    """Preprocessing as the model was trained (its card); sliding window from the config.

    Geometry and intensity window are part of the model: feeding it anything else is
    wrong. Window overlap and batch are deployment choices, tuned per server in the config.

    Raises:
        BundleError: the card's preprocessing does not fit this code (an older model).
    """
    try:
        prep = preprocessing_of(
            card.extra.get("preprocessing"), settings, f"{card.name} version {card.version}"
        )
    except ValueError as exc:
        raise BundleError(str(exc)) from None
    return prep, settings.inference


NormalizerFor = Callable[[PreprocessingSettings], IntensityNormalizer | None]
"""The project's normaliser for a model's preprocessing (``SegmentationProject.normalizer_for``)."""


def _normalizer(
    normalizer_for: NormalizerFor | None, prep: PreprocessingSettings, card: ModelCard
) -> IntensityNormalizer | None:
    """The normaliser the card's preprocessing needs, or a BundleError saying it is missing."""
    if normalizer_for is None:
        return None
    try:
        return normalizer_for(prep)
    except ConfigError as exc:  # the model needs code this server does not have
        raise BundleError(f"{card.name} version {card.version}: {exc.problem}") from None


def load_onnx_model(
    model_dir: Path,
    settings: SegmentationSettings,
    normalizer_for: NormalizerFor | None = None,
) -> SegmentationServedModel:
    """Serve the ONNX graph of a materialized model folder on ONNX Runtime.

    ``normalizer_for`` gives the project's normaliser, for a model trained with
    ``normalize: project``.
    """
    from medai.segmentation.onnx_segmenter import OnnxSegmenter  # noqa: PLC0415 - onnxruntime

    bundle = ModelBundle.load(model_dir)
    card = bundle.card
    prep, inference = settings_from_card(card, settings)
    normalizer = _normalizer(normalizer_for, prep, card)
    channels, regions = channels_of(card), regions_of(card)
    try:
        segmenter = OnnxSegmenter(
            bundle.onnx_path,
            prep,
            inference,
            limits=settings.limits,
            regions=regions,
            channels=len(channels) or None,
            normalizer=normalizer,
        )
    except ValueError as exc:  # the graph disagrees with its own card
        raise BundleError(f"{card.name} version {card.version}: {exc}") from None
    return SegmentationServedModel(
        card,
        labels_of(card),
        segmenter.segment,
        settings.input.acceptance(),
        channels=channels,
        regions=regions,
    )


def load_torch_model(
    binding: ProjectBinding[SettingsT],
    model_dir: Path,
    settings: SegmentationSettings,
    normalizer_for: NormalizerFor | None = None,
) -> SegmentationServedModel:
    """Serve the same registered version with PyTorch (imports torch, MONAI and MLflow)."""
    from medai.segmentation.registry import load_model_version  # noqa: PLC0415 - heavy
    from medai.segmentation.segmenter import Segmenter  # noqa: PLC0415 - torch backend only

    card = ModelBundle.load(model_dir).card
    prep, inference = settings_from_card(card, settings)
    normalizer = _normalizer(normalizer_for, prep, card)  # before the network is fetched
    network = load_model_version(binding, settings, card.version)
    channels, regions = channels_of(card), regions_of(card)
    segmenter = Segmenter(
        network, prep, inference, limits=settings.limits, regions=regions, normalizer=normalizer
    )
    return SegmentationServedModel(
        card,
        labels_of(card),
        segmenter.segment,
        settings.input.acceptance(),
        channels=channels,
        regions=regions,
    )


def model_loaders(project: SegmentationProject[SettingsT]) -> dict[str, ModelLoader[SettingsT]]:
    """The project's loader per ``api.backend`` value, with its normaliser where needed."""

    def onnx_loader(model_dir: Path, settings: SettingsT) -> SegmentationServedModel:
        return load_onnx_model(model_dir, settings, project.normalizer_for)

    def torch_loader(model_dir: Path, settings: SettingsT) -> SegmentationServedModel:
        return load_torch_model(project.binding, model_dir, settings, project.normalizer_for)

    return {"onnx": onnx_loader, "torch": torch_loader}
