"""Register segmentation networks and load them back by alias, with the preprocessing they need.

The preprocessing, label names, channel names and (for a region model) the regions
travel as tags on the model version, so a model evaluated or served later is fed
exactly what it was trained on, whatever the local config says today. Needs torch,
MONAI and MLflow.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from medai.export import OnnxGraphSpec
from medai.project import ProjectBinding
from medai.segmentation.networks import SegmentationNetwork
from medai.segmentation.regions import CHANNELS_TAG, REGIONS_TAG, Regions, channels_from_tag
from medai.segmentation.settings import (
    InferenceSettings,
    PreprocessingSettings,
    SegmentationSettings,
    preprocessing_of,
)
from medai.tracking.errors import ModelNotFoundError
from medai.tracking.models import tensor_signature
from medai.tracking.publish import OnnxPlan, load_registered_network, register_network
from medai.tracking.registry import find_registered_version
from medai.tracking.store import configure_tracking

PREPROCESSING_TAG = "medai.preprocessing"
INFERENCE_TAG = "medai.inference"
LABELS_TAG = "medai.labels"

_FREE_AXES = {0: "batch", 2: "x", 3: "y", 4: "z"}
ONNX_GRAPH = OnnxGraphSpec(
    input_name="image",
    output_names=("logits",),
    dynamic_axes={"image": _FREE_AXES, "logits": _FREE_AXES},
)
"""``image (N, C, X, Y, Z)`` -> ``logits (N, K, X, Y, Z)``, batch and spatial sizes free."""


@dataclass(frozen=True)
class LoadedModel:
    """A registered network with everything needed to run it.

    ``channels`` is empty for a version registered before channel names were tagged (it
    took one channel); ``regions`` is None for a label-based (softmax) model.
    """

    network: torch.nn.Module
    name: str
    version: str
    alias: str
    preprocessing: PreprocessingSettings
    inference: InferenceSettings
    labels: dict[int, str]
    channels: tuple[str, ...] = ()
    regions: Regions | None = None


def model_tags(
    settings: SegmentationSettings,
    labels: Mapping[int, str],
    channels: Sequence[str],
    regions: Regions | None,
) -> dict[str, str]:
    """The tags that say how to feed a version and read its output."""
    tags = {
        PREPROCESSING_TAG: settings.preprocessing.model_dump_json(),
        INFERENCE_TAG: settings.inference.model_dump_json(),
        LABELS_TAG: json.dumps({str(k): v for k, v in labels.items()}),
        CHANNELS_TAG: json.dumps(list(channels)),
    }
    if regions is not None:
        tags[REGIONS_TAG] = regions.to_json()
    return tags


def onnx_plan(network: SegmentationNetwork) -> OnnxPlan:
    """Export checks on two batch sizes and two shapes (multiples of the stride product).

    A graph that baked in the tracing shape is caught at registration, not in the server.
    """
    divisor = network.size_divisor
    channels = network.in_channels
    return OnnxPlan(
        spec=ONNX_GRAPH,
        examples=[
            torch.randn(1, channels, *(2 * divisor,) * network.spatial_dims),
            torch.randn(2, channels, 3 * divisor, 2 * divisor, 4 * divisor),
        ],
    )


def register_model(
    network: SegmentationNetwork,
    settings: SegmentationSettings,
    *,
    labels: Mapping[int, str],
    tags: Mapping[str, str],
    channels: Sequence[str],
    regions: Regions | None = None,
) -> str:
    """Log the network to the active run, register it, tag it and alias it ``challenger``.

    Only the pure MONAI module is logged, so loading it needs MONAI but not the project.

    Args:
        network: The trained network.
        settings: The run's settings (registry name, preprocessing, sliding window).
        labels: Label value -> name, stored with the version.
        tags: Further model-version tags (lineage, metrics).
        channels: The input channel names in order (``DecathlonDataset.channels``).
        regions: The regions of a sigmoid model (one output each); None: softmax labels.

    Returns:
        The new model version.
    """
    exportable = network.exportable()
    return register_network(
        exportable,
        name=settings.registered_model_name(),
        onnx_network=exportable,
        onnx_plan=onnx_plan(network),
        signature=tensor_signature(network.input_shape(), network.output_shape()),
        input_example=network.example_input().numpy(),
        tags={**tags, **model_tags(settings, labels, channels, regions)},
    )


def load_registered_model(
    binding: ProjectBinding[Any], settings: SegmentationSettings, alias: str | None = None
) -> LoadedModel:
    """Load the version behind ``alias`` (see medai.tracking.model_choice).

    Raises:
        ModelNotFoundError: no version behind those aliases, or one from older code.
    """
    found = find_registered_version(settings, binding.repo_root, alias)
    name, number, tags = found.name, found.number, found.tags
    try:
        preprocessing = preprocessing_of(tags.get(PREPROCESSING_TAG), settings, found.where)
        regions_text = tags.get(REGIONS_TAG)
        regions = None if regions_text is None else Regions.from_json(regions_text, found.where)
        channels = channels_from_tag(tags.get(CHANNELS_TAG), found.where)
    except ValueError as exc:
        raise ModelNotFoundError(str(exc)) from None
    network = load_registered_network(name, number)
    labels = {int(k): v for k, v in json.loads(tags.get(LABELS_TAG, "{}")).items()}
    # Sliding-window settings are a deployment choice: the current config's, not the tag's.
    return LoadedModel(
        network,
        name,
        number,
        found.alias,
        preprocessing,
        settings.inference,
        labels,
        channels,
        regions,
    )


def load_model_version(
    binding: ProjectBinding[Any], settings: SegmentationSettings, version: str
) -> torch.nn.Module:
    """Load one registered version's PyTorch network (for the torch serving backend)."""
    configure_tracking(settings.tracking, binding.repo_root)
    return load_registered_network(settings.registered_model_name(), version)
