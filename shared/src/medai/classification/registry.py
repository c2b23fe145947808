"""Register classifiers with their ONNX export, and load them back by alias.

The preprocessing, the label names and the operating point travel as model-version
tags, so a model evaluated, used or served later is fed and read exactly as it was
trained, whatever the local config says today. The materializer turns the JSON tags
into the served model card's ``extra`` (``preprocessing``, ``labels``, ``thresholds``).
Needs torch, MONAI and MLflow.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from medai.classification.export import GRAPH_SPEC
from medai.classification.extensions import ImageStep
from medai.classification.networks import CamClassifier
from medai.classification.settings import (
    ClassificationSettings,
    PreprocessingSettings,
    preprocessing_of,
)
from medai.classification.torch_classifier import TorchClassifier
from medai.project import ProjectBinding
from medai.tracking.errors import ModelNotFoundError
from medai.tracking.models import tensor_signature
from medai.tracking.publish import OnnxPlan, load_registered_network, register_network
from medai.tracking.registry import find_registered_version
from medai.tracking.store import configure_tracking

PREPROCESSING_TAG = "medai.preprocessing"
LABELS_TAG = "medai.labels"
THRESHOLDS_TAG = "medai.thresholds"
KIND_TAG = "medai.kind"
KIND = "classification"
_PARITY_BATCHES = (1, 3)


@dataclass(frozen=True)
class LoadedModel:
    """A registered classifier with everything needed to run it."""

    network: CamClassifier
    name: str
    version: str
    alias: str
    preprocessing: PreprocessingSettings
    labels: tuple[str, ...]
    thresholds: dict[str, float]

    def classifier(self, image_step: ImageStep | None = None) -> TorchClassifier:
        """The network wrapped to take radiographs and give probabilities and CAMs.

        ``image_step`` is the project's, for a model registered with
        ``preprocessing.image_step: project`` (``ClassificationProject.image_step_for``).

        Raises:
            ValueError: the model needs the project's image step and none is given.
        """
        if self.preprocessing.image_step == "project" and image_step is None:
            raise ValueError(
                f"{self.name} version {self.version} was trained with the project's own "
                "image step (preprocessing.image_step: project) and none was given"
            )
        return TorchClassifier(
            self.network,
            self.preprocessing.image_size,
            self.labels,
            standardize=self.preprocessing.standardize,
            image_step=image_step if self.preprocessing.image_step == "project" else None,
        )


def onnx_plan(image_size: int, in_channels: int = 1, seed: int = 0) -> OnnxPlan:
    """Export checks on two batch sizes of random images in ``[0, 1]``.

    The image size is fixed (the server resizes every radiograph to it); the batch is free,
    so a graph that baked in the tracing batch is caught at registration, not in the server.
    """
    generator = torch.Generator().manual_seed(seed)
    return OnnxPlan(
        spec=GRAPH_SPEC,
        examples=[
            torch.rand(batch, in_channels, image_size, image_size, generator=generator)
            for batch in _PARITY_BATCHES
        ],
    )


def labels_tag(labels: Sequence[str]) -> str:
    """Label names as a JSON object (column index -> name), as the materializer needs."""
    return json.dumps({str(index): name for index, name in enumerate(labels)})


def labels_from(raw: Mapping[str, Any] | None) -> tuple[str, ...]:
    """Label names in column order from the ``{"0": name, ...}`` tag (empty when absent)."""
    if not raw:
        return ()
    return tuple(str(raw[key]) for key in sorted(raw, key=int))


def register_model(
    network: CamClassifier,
    settings: ClassificationSettings,
    *,
    labels: Sequence[str],
    thresholds: Mapping[str, float],
    tags: Mapping[str, str],
) -> str:
    """Log the network to the active run, register it, tag it and alias it ``challenger``.

    The ONNX graph is ``CamClassifier.exportable()`` (logits and CAMs), checked against
    torch before anything is registered.

    Args:
        network: The trained classifier.
        settings: The run's settings (registry name, preprocessing).
        labels: Label names in output order.
        thresholds: Operating point per label, stored for serving.
        tags: Further model-version tags (lineage, metrics).

    Returns:
        The new model version.
    """
    size = settings.preprocessing.image_size
    network.eval()
    return register_network(
        network,
        name=settings.registered_model_name(),
        onnx_network=network.exportable(),
        onnx_plan=onnx_plan(size, network.in_channels, settings.seed),
        signature=tensor_signature((-1, network.in_channels, size, size), (-1, len(labels))),
        input_example=torch.zeros(1, network.in_channels, size, size).numpy(),
        tags={
            **tags,
            KIND_TAG: KIND,
            PREPROCESSING_TAG: settings.preprocessing.model_dump_json(),
            LABELS_TAG: labels_tag(labels),
            THRESHOLDS_TAG: json.dumps({label: thresholds[label] for label in labels}),
        },
    )


def load_registered_model(
    binding: ProjectBinding[Any], settings: ClassificationSettings, alias: str | None = None
) -> LoadedModel:
    """Load the version behind ``alias`` (see medai.tracking.model_choice).

    Raises:
        ModelNotFoundError: no version behind those aliases, or one from older code.
    """
    found = find_registered_version(settings, binding.repo_root, alias)
    name, number, tags, where = found.name, found.number, found.tags, found.where
    try:
        preprocessing = preprocessing_of(tags.get(PREPROCESSING_TAG), settings, where)
        labels = labels_from(json.loads(tags.get(LABELS_TAG, "{}")))
        stored = json.loads(tags.get(THRESHOLDS_TAG, "{}"))
    except (ValueError, TypeError) as exc:
        raise ModelNotFoundError(f"{where}: {exc}") from None
    if not labels:
        raise ModelNotFoundError(
            f"{where} has no {LABELS_TAG} tag (not a classifier?); train it again"
        )
    network = load_registered_network(name, number)
    if not isinstance(network, CamClassifier):
        raise ModelNotFoundError(f"{where} is a {type(network).__name__}, not a CamClassifier")
    thresholds = {label: float(stored[label]) for label in labels if label in stored}
    if len(thresholds) != len(labels):  # registered without an operating point
        thresholds = settings.evaluate.thresholds_for(labels)
    return LoadedModel(network, name, number, found.alias, preprocessing, labels, thresholds)


def load_model_version(
    binding: ProjectBinding[Any], settings: ClassificationSettings, version: str
) -> CamClassifier:
    """Load one registered version's network (for the torch serving backend).

    Raises:
        ModelNotFoundError: the version holds another kind of network.
    """
    configure_tracking(settings.tracking, binding.repo_root)
    name = settings.registered_model_name()
    network = load_registered_network(name, version)
    if not isinstance(network, CamClassifier):
        raise ModelNotFoundError(
            f"{name} version {version} is a {type(network).__name__}, not a CamClassifier"
        )
    return network.eval()
