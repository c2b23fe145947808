"""Register ct-seg models and load them back by alias, with the preprocessing they need.

The preprocessing and label names travel as tags on the model version, so a model
evaluated or served later is fed exactly what it was trained on, whatever the local
config says today.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import mlflow
import monai
import numpy as np
import torch

from ct_seg.mlops.onnx_export import check_onnx_matches, export_onnx
from ct_seg.models import SegmentationNetwork
from ct_seg.settings import CtSegSettings, InferenceSettings, PreprocessingSettings, repo_root
from medai.tracking.models import log_pytorch_model, tensor_signature
from medai.tracking.registry import (
    CHALLENGER,
    CHAMPION,
    ONNX_ARTIFACT_TAG,
    resolve_alias,
    set_alias,
    tag_version,
)
from medai.tracking.store import configure_tracking

ONNX_ARTIFACT_DIR = "onnx"
ONNX_FILE = "model.onnx"
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
    # Export first: a network that cannot be served is never registered.
    onnx_tags = _log_onnx_export(network)
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
            **onnx_tags,
        },
    )
    set_alias(name, CHALLENGER, version)
    return version


def _log_onnx_export(network: SegmentationNetwork) -> dict[str, str]:
    """Export the network to ONNX, check it against PyTorch, log it to the active run.

    The check runs two batch sizes and two shapes, so a graph that baked in the tracing
    shape is caught here rather than in the server.

    Returns:
        Model-version tags naming the artifact and the measured difference.
    """
    exportable = network.exportable()
    divisor = network.size_divisor
    examples = [
        torch.randn(1, network.in_channels, *(2 * divisor,) * network.spatial_dims),
        torch.randn(2, network.in_channels, 3 * divisor, 2 * divisor, 4 * divisor),
    ]
    with tempfile.TemporaryDirectory() as scratch:
        path = export_onnx(exportable, Path(scratch) / ONNX_FILE, examples[0])
        difference = check_onnx_matches(exportable, path, examples)
        mlflow.log_artifact(str(path), artifact_path=ONNX_ARTIFACT_DIR)
    return {
        ONNX_ARTIFACT_TAG: f"{ONNX_ARTIFACT_DIR}/{ONNX_FILE}",
        "medai.onnx_max_abs_diff": f"{difference:.3g}",
    }


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
    # Sliding-window settings are a deployment choice: the current config's, not the tag's.
    inference = settings.inference
    labels = {int(k): v for k, v in json.loads(tags.get(LABELS_TAG, "{}")).items()}
    return LoadedModel(
        network, name, str(version.version), found_alias, preprocessing, inference, labels
    )


def load_model_version(settings: CtSegSettings, version: str) -> torch.nn.Module:
    """Load one registered version's PyTorch network (for the torch serving backend)."""
    configure_tracking(settings.tracking, repo_root())
    network: torch.nn.Module = mlflow.pytorch.load_model(
        f"models:/{settings.registered_model_name()}/{version}", map_location="cpu"
    )
    return network
