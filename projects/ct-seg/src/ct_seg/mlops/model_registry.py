"""Register ct-seg models and load them back by alias, with the preprocessing they need.

The preprocessing and label names travel as tags on the model version, so a model
evaluated or served later is fed exactly what it was trained on, whatever the local
config says today.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import mlflow
import monai
import numpy as np
import torch

from ct_seg.models import SegmentationNetwork
from ct_seg.settings import CtSegSettings, InferenceSettings, PreprocessingSettings, repo_root
from medai.tracking.models import log_pytorch_model, tensor_signature
from medai.tracking.registry import CHALLENGER, CHAMPION, resolve_alias, set_alias, tag_version
from medai.tracking.store import configure_tracking

PREPROCESSING_TAG = "medai.preprocessing"
INFERENCE_TAG = "medai.inference"
LABELS_TAG = "medai.labels"


@dataclass(frozen=True)
class LoadedModel:
    """A registered network with everything needed to run it."""

    network: torch.nn.Module
    name: str
    version: str
    alias: str
    preprocessing: PreprocessingSettings
    inference: InferenceSettings
    labels: dict[int, str]


def register_trained_model(
    network: SegmentationNetwork,
    settings: CtSegSettings,
    *,
    labels: Mapping[int, str],
    lineage_tags: Mapping[str, str],
    metric_tags: Mapping[str, str],
) -> str:
    """Log the network to the active run, register it, tag it and alias it ``challenger``.

    Only the pure MONAI module is logged, so loading it needs MONAI but not this project.

    Returns:
        The new model version.
    """
    name = settings.registered_model_name()
    example = network.example_input().numpy()
    info = log_pytorch_model(
        network.exportable(),
        signature=tensor_signature(network.input_shape(), network.output_shape()),
        input_example=example.astype(np.float32),
        pip_requirements=[
            f"torch=={torch.__version__.split('+')[0]}",
            f"monai=={monai.__version__}",
            f"numpy=={np.__version__}",
        ],
        registered_model_name=name,
    )
    version = str(info.registered_model_version)
    tag_version(
        name,
        version,
        {
            **lineage_tags,
            **metric_tags,
            PREPROCESSING_TAG: settings.preprocessing.model_dump_json(),
            INFERENCE_TAG: settings.inference.model_dump_json(),
            LABELS_TAG: json.dumps({str(k): v for k, v in labels.items()}),
        },
    )
    set_alias(name, CHALLENGER, version)
    return version


def load_registered_model(settings: CtSegSettings, alias: str | None = None) -> LoadedModel:
    """Load the version behind ``alias`` (default: champion, else challenger).

    Raises:
        medai.tracking.registry.ModelNotFoundError: no version behind those aliases.
    """
    configure_tracking(settings.tracking, repo_root())
    name = settings.registered_model_name()
    found_alias, version = resolve_alias(name, [alias] if alias else [CHAMPION, CHALLENGER])
    network = mlflow.pytorch.load_model(f"models:/{name}/{version.version}", map_location="cpu")
    tags = version.tags or {}
    preprocessing = (
        PreprocessingSettings.model_validate_json(tags[PREPROCESSING_TAG])
        if PREPROCESSING_TAG in tags
        else settings.preprocessing
    )
    inference = (
        InferenceSettings.model_validate_json(tags[INFERENCE_TAG])
        if INFERENCE_TAG in tags
        else settings.inference
    )
    labels = {int(k): v for k, v in json.loads(tags.get(LABELS_TAG, "{}")).items()}
    return LoadedModel(
        network, name, str(version.version), found_alias, preprocessing, inference, labels
    )
