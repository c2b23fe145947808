"""Register a trained network: ONNX export checked first, then the version, tags and alias.

Every project registers the same way, so a registered version always carries what the
light server and a later evaluation need: an ONNX graph proven equal to the torch
network, the preprocessing it was trained with (as tags), lineage, and the
``challenger`` alias, which is moved only after everything else succeeded.
Needs the ``train`` extra (torch, onnx) and MLflow.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import mlflow
import monai
import numpy as np
import torch
from mlflow.models import ModelSignature
from mlflow.tracking import MlflowClient

from medai.export import OnnxGraphSpec, check_onnx_matches, export_onnx
from medai.tracking.models import log_pytorch_model
from medai.tracking.registry import CHALLENGER, ONNX_ARTIFACT_TAG, set_alias, tag_version

ONNX_ARTIFACT_DIR = "onnx"
ONNX_FILE = "model.onnx"
ONNX_DIFF_TAG = "medai.onnx_max_abs_diff"


@dataclass(frozen=True)
class OnnxPlan:
    """How to export and check a network.

    Attributes:
        spec: Graph input/output names and free axes.
        examples: Inputs for the parity check; the first also traces the export. Use two
            batch sizes (and spatial shapes, where axes are free).
        atol: Absolute tolerance of the parity check.
        rtol: Relative tolerance of the parity check.
    """

    spec: OnnxGraphSpec
    examples: Sequence[torch.Tensor]
    atol: float = 1e-3
    rtol: float = 1e-3


def log_onnx_export(network: torch.nn.Module, plan: OnnxPlan) -> dict[str, str]:
    """Export ``network`` to ONNX, check it against torch, log it to the active run.

    Returns:
        Model-version tags naming the artifact and the measured difference.

    Raises:
        medai.export.OnnxExportError: the export differs from torch beyond tolerance.
    """
    with tempfile.TemporaryDirectory() as scratch:
        path = export_onnx(network, Path(scratch) / ONNX_FILE, plan.examples[0], plan.spec)
        difference = check_onnx_matches(
            network, path, plan.examples, atol=plan.atol, rtol=plan.rtol
        )
        mlflow.log_artifact(str(path), artifact_path=ONNX_ARTIFACT_DIR)
    return {
        ONNX_ARTIFACT_TAG: f"{ONNX_ARTIFACT_DIR}/{ONNX_FILE}",
        ONNX_DIFF_TAG: f"{difference:.3g}",
    }


def register_network(
    network: torch.nn.Module,
    *,
    name: str,
    onnx_network: torch.nn.Module,
    onnx_plan: OnnxPlan,
    signature: ModelSignature,
    input_example: np.ndarray,
    tags: Mapping[str, str],
) -> str:
    """Log ``network`` to the active run, register it under ``name``, tag it, alias it.

    The export comes first: a network that cannot be served is never registered.

    Args:
        network: The module MLflow stores (pure MONAI/torch, so loading it needs no project).
        name: Registered model name.
        onnx_network: The module exported for serving (may add outputs, e.g. CAMs).
        onnx_plan: Export names, axes and parity-check inputs.
        signature: The MLflow tensor signature of ``network``.
        input_example: One valid input, stored with the model.
        tags: Model-version tags (lineage, metrics, preprocessing, labels).

    Returns:
        The new version, now behind the ``challenger`` alias.
    """
    onnx_tags = log_onnx_export(onnx_network, onnx_plan)
    info = log_pytorch_model(
        network,
        signature=signature,
        input_example=input_example.astype(np.float32),
        pip_requirements=[
            f"torch=={torch.__version__.split('+')[0]}",
            f"monai=={monai.__version__}",
            f"numpy=={np.__version__}",
        ],
        registered_model_name=name,
    )
    version = str(info.registered_model_version)
    label_new_version(name, version, {**tags, **onnx_tags})
    return version


def label_new_version(name: str, version: str, tags: Mapping[str, str]) -> None:
    """Tag a just-registered version and make it the challenger, or take it back.

    MLflow creates the version before it can be tagged, so a failure in between (the
    server going away, an interrupt) would leave a version with no lineage or ONNX tags
    that the registry lists like any other. Deleting it on failure keeps "registered"
    meaning "complete": the previous challenger stays the challenger.
    """
    try:
        tag_version(name, version, tags)
        set_alias(name, CHALLENGER, version)
    except BaseException:
        with contextlib.suppress(Exception):  # the original failure is the one to report
            MlflowClient().delete_model_version(name, version)
        raise


def load_registered_network(name: str, version: str) -> torch.nn.Module:
    """One registered version's PyTorch network, on the CPU (tracking must be configured)."""
    import mlflow.pytorch  # noqa: PLC0415 - the flavour module loads torch-specific code

    network: torch.nn.Module = mlflow.pytorch.load_model(
        f"models:/{name}/{version}", map_location="cpu"
    )
    return network
