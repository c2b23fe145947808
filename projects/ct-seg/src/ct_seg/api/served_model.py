"""The model the server holds: a card for ``/v1/model`` and a ``segment`` function."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ct_seg.settings import CtSegSettings, InferenceSettings, PreprocessingSettings
from medai.io import Volume
from medai.serving import ModelBundle, ModelCard

DEFAULT_LABELS = {0: "background"}


@dataclass(frozen=True)
class CtSegServedModel:
    """A loaded ct-seg model, whatever runs it (ONNX Runtime or PyTorch)."""

    card: ModelCard
    labels: dict[int, str]
    segment: Callable[[Volume], np.ndarray]


def _labels(card: ModelCard) -> dict[int, str]:
    raw = card.extra.get("labels") or {}
    return {int(k): str(v) for k, v in raw.items()} or dict(DEFAULT_LABELS)


def _settings_from_card(
    card: ModelCard, settings: CtSegSettings
) -> tuple[PreprocessingSettings, InferenceSettings]:
    """Preprocessing as the model was trained (its card); sliding window from the config.

    Geometry and HU window are part of the model: feeding it anything else is wrong.
    Window overlap and batch are deployment choices, tuned per server in the config.
    """
    prep = card.extra.get("preprocessing")
    return (
        PreprocessingSettings.model_validate(prep) if prep else settings.preprocessing,
        settings.inference,
    )


def load_onnx_model(model_dir: Path, settings: CtSegSettings) -> CtSegServedModel:
    """Serve the ONNX graph of a materialized model folder on ONNX Runtime."""
    from ct_seg.onnx_segmenter import OnnxSegmenter  # noqa: PLC0415 - onnxruntime import is ~0.5 s

    bundle = ModelBundle.load(model_dir)
    prep, inference = _settings_from_card(bundle.card, settings)
    segmenter = OnnxSegmenter(bundle.onnx_path, prep, inference)
    return CtSegServedModel(bundle.card, _labels(bundle.card), segmenter.segment)


def load_torch_model(model_dir: Path, settings: CtSegSettings) -> CtSegServedModel:
    """Serve the same registered version with PyTorch (imports torch, MONAI and MLflow)."""
    from ct_seg.inference import Segmenter  # noqa: PLC0415 - heavy, torch backend only
    from ct_seg.mlops.model_registry import load_model_version  # noqa: PLC0415

    card = ModelBundle.load(model_dir).card
    network = load_model_version(settings, card.version)
    prep, inference = _settings_from_card(card, settings)
    return CtSegServedModel(card, _labels(card), Segmenter(network, prep, inference).segment)
