"""Resolve a registry alias and materialize the version as a local model folder.

This is the storage-initializer step (as KServe runs it in an init container): it needs
MLflow; the server that then reads the folder does not.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import mlflow
from mlflow.models import get_model_info

from medai.serving.bundle import BundleError, ModelBundle, ModelCard, write_bundle
from medai.tracking.errors import ModelNotFoundError
from medai.tracking.model_choice import ModelRequest
from medai.tracking.registry import ONNX_ARTIFACT_TAG, choose_version

_TAG_PREFIX = "medai."


def _signature_of(name: str, version: str) -> dict[str, Any]:
    signature = get_model_info(f"models:/{name}/{version}").signature
    if signature is None:
        return {}
    # MLflow stores each side as a JSON string; keep it readable in metadata.json.
    return {side: json.loads(text) for side, text in signature.to_dict().items() if text}


def _extra_from_tags(tags: dict[str, str]) -> dict[str, Any]:
    """Project data stored as JSON-object tags (``medai.preprocessing`` -> ``preprocessing``)."""
    extra: dict[str, Any] = {}
    for key, value in tags.items():
        if key.startswith(_TAG_PREFIX) and value.startswith("{"):
            try:
                extra[key.removeprefix(_TAG_PREFIX)] = json.loads(value)
            except json.JSONDecodeError:
                continue
    return extra


def materialize(request: ModelRequest, models_root: Path) -> ModelBundle:
    """Make ``<models_root>/<name>/<version>/`` hold the ONNX graph and card of the chosen version.

    The version is chosen by ``model_choice``'s rule (so production refuses a fallback
    before anything is downloaded); the card records the alias it came through, or
    none when it was named by version, which the server checks again at start-up. A
    folder that already holds that version of that run is reused (versions are
    immutable); only its card is rewritten when the alias now pointing at it differs. A
    folder left by another store's version of the same number (another run: a reset or
    a second store sharing the folder) is downloaded again, never served under the new
    card.

    Raises:
        ModelRefusedError: production and only a fallback version.
        ModelNotFoundError: no such version, or the version has no ONNX export.
    """
    choice, version = choose_version(request)
    name, alias = request.model, choice.alias
    number = str(version.version)
    tags = dict(version.tags or {})
    artifact = tags.get(ONNX_ARTIFACT_TAG)
    if not artifact:
        raise ModelNotFoundError(
            f"{name} version {number} has no ONNX export (tag {ONNX_ARTIFACT_TAG}); "
            "train it again with the current code, which exports one at registration"
        )
    card = ModelCard(
        name=name,
        version=number,
        alias=alias,
        run_id=version.run_id,
        signature=_signature_of(name, number),
        tags={k: v for k, v in tags.items() if not v.startswith("{")},
        extra=_extra_from_tags(tags),
    )
    folder = models_root / name / number
    try:
        existing = ModelBundle.load(folder)
    except BundleError:
        existing = None
    if existing is not None and existing.card.run_id == card.run_id:
        if existing.card == card:
            return existing
        return write_bundle(folder, card, existing.onnx_path.read_bytes(), overwrite=True)
    with tempfile.TemporaryDirectory() as scratch:
        local = mlflow.artifacts.download_artifacts(
            run_id=version.run_id, artifact_path=artifact, dst_path=scratch
        )
        return write_bundle(folder, card, Path(local), overwrite=True)
