"""A materialized model: a folder with ``model.onnx`` and ``metadata.json``.

This is what KServe's storage initializer (or our materializer) leaves on disk before the
server starts, so the server needs neither MLflow nor network access to the registry:
the ONNX graph runs on onnxruntime, and ``metadata.json`` says which registered model
and version it is, with the project's own data (preprocessing, label names) in ``extra``.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict

MODEL_FILE = "model.onnx"
METADATA_FILE = "metadata.json"
METADATA_VERSION = 1


class BundleError(ValueError):
    """A model folder that cannot be served; str() is one line naming the file and problem."""


@dataclass(frozen=True)
class ModelCard:
    """Which model is served, and the project data needed to use it.

    Attributes:
        name: Registered model name, e.g. ``ct-seg``.
        version: Registered model version, e.g. ``"7"``.
        alias: The alias it was resolved from (``champion``), if any.
        run_id: The MLflow run that trained it, for lineage.
        signature: Input/output tensor description (shape, dtype), JSON-compatible.
        tags: Registry tags of the version.
        extra: Project data: preprocessing settings, label names, ...
    """

    name: str
    version: str
    alias: str | None = None
    run_id: str | None = None
    signature: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


class ServedModel(Protocol):
    """What ``create_app`` needs from a project's loaded model: its card.

    Projects add their own inference methods; the shared routes only read the card.
    """

    @property
    def card(self) -> ModelCard:
        """The card of the loaded model."""
        ...


def _optional_str(data: Mapping[str, Any], key: str, where: str) -> str | None:
    """``data[key]`` as a string or None, or a BundleError naming the key."""
    value = data.get(key)
    if value is None or isinstance(value, str):
        return value
    raise BundleError(f"{where}: '{key}' must be a string or null")


def _object(data: Mapping[str, Any], key: str, where: str) -> dict[str, Any]:
    """``data[key]`` as a JSON object (empty when missing), or a BundleError naming the key."""
    value = data.get(key, {})
    if not isinstance(value, dict) or not all(isinstance(name, str) for name in value):
        raise BundleError(f"{where}: '{key}' must be a JSON object")
    return value


def card_from_dict(data: Any, where: str) -> ModelCard:  # noqa: ANN401 - parsed JSON
    """Validate parsed ``metadata.json`` content into a ModelCard.

    Args:
        data: The parsed JSON document.
        where: What to name in error messages (the metadata file).

    Raises:
        BundleError: A missing or mistyped key, named in the message.
    """
    if not isinstance(data, dict):
        raise BundleError(f"{where}: must be a JSON object")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise BundleError(f"{where}: 'name' must be a non-empty string")
    version = data.get("version")
    if isinstance(version, int) and not isinstance(version, bool):
        version = str(version)  # MLflow versions are numbers; accept them as written
    if not isinstance(version, str) or not version.strip():
        raise BundleError(f"{where}: 'version' must be a non-empty string")
    tags = _object(data, "tags", where)
    if not all(isinstance(value, str) for value in tags.values()):
        raise BundleError(f"{where}: 'tags' values must be strings")
    return ModelCard(
        name=name,
        version=version,
        alias=_optional_str(data, "alias", where),
        run_id=_optional_str(data, "run_id", where),
        signature=_object(data, "signature", where),
        tags=tags,
        extra=_object(data, "extra", where),
    )


def card_to_dict(card: ModelCard) -> dict[str, Any]:
    """The ``metadata.json`` content for ``card``."""
    return {
        "metadata_version": METADATA_VERSION,
        "name": card.name,
        "version": card.version,
        "alias": card.alias,
        "run_id": card.run_id,
        "signature": card.signature,
        "tags": card.tags,
        "extra": card.extra,
    }


@dataclass(frozen=True)
class ModelBundle:
    """A checked model folder: the card and the path of the ONNX graph."""

    folder: Path
    card: ModelCard
    onnx_path: Path

    @classmethod
    def load(cls, folder: str | os.PathLike[str]) -> ModelBundle:
        """Check ``folder`` and read its card; the ONNX graph is left to the caller to load.

        Raises:
            BundleError: The folder, ``metadata.json`` or ``model.onnx`` is missing, or
                the metadata is not valid JSON or lacks a key (named in the message).
        """
        root = Path(folder)
        if not root.is_dir():
            raise BundleError(f"{root}: model folder does not exist")
        metadata_path = root / METADATA_FILE
        try:
            text = metadata_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise BundleError(f"{metadata_path}: missing; is this a materialized model?") from None
        except (OSError, UnicodeDecodeError) as error:
            raise BundleError(f"{metadata_path}: cannot be read ({type(error).__name__})") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            msg = f"{metadata_path}: not valid JSON (line {error.lineno}: {error.msg})"
            raise BundleError(msg) from None
        card = card_from_dict(data, str(metadata_path))
        onnx_path = root / MODEL_FILE
        if not onnx_path.is_file():
            raise BundleError(f"{onnx_path}: missing; the model folder has no ONNX graph")
        return cls(folder=root, card=card, onnx_path=onnx_path)


def _write_synced(path: Path, data: bytes) -> None:
    """Write ``data`` and flush it to disk, so the rename publishes complete files."""
    with path.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _copy_synced(source: Path, destination: Path) -> None:
    """Copy the ONNX graph at ``source`` and flush it to disk."""
    try:
        shutil.copyfile(source, destination)
        with destination.open("rb+") as handle:
            os.fsync(handle.fileno())
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise BundleError(f"{source}: cannot copy the ONNX graph ({reason})") from None


def write_bundle(
    folder: str | os.PathLike[str],
    card: ModelCard,
    onnx: bytes | os.PathLike[str],
    *,
    overwrite: bool = False,
) -> ModelBundle:
    """Write a model folder atomically: a temporary sibling folder, then one rename.

    A server (or a second materializer) never sees a half-written bundle: either the old
    folder or the complete new one. With ``overwrite`` an existing folder is first moved
    aside, so there is a moment with no folder, never a mixed one.

    Args:
        folder: The bundle folder to create.
        card: The card to write as ``metadata.json``; it is checked as ``load`` would.
        onnx: The ONNX graph, as bytes or the path of an ``.onnx`` file to copy.
        overwrite: Replace an existing folder instead of refusing.

    Returns:
        The written bundle, as ``ModelBundle.load`` reads it.

    Raises:
        BundleError: The folder exists (without ``overwrite``), the card is invalid or
            not JSON-serialisable, or the ONNX file cannot be read.
    """
    target = Path(folder)
    if target.exists() and not overwrite:
        raise BundleError(f"{target}: already exists; pass overwrite=True to replace it")
    try:
        metadata = json.dumps(card_to_dict(card), indent=2, sort_keys=True)
    except (TypeError, ValueError) as error:
        raise BundleError(f"{target}: model card is not JSON-serialisable ({error})") from None
    card_from_dict(json.loads(metadata), f"{target / METADATA_FILE} (to be written)")

    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex}"
    staging.mkdir()
    try:
        if isinstance(onnx, bytes):
            _write_synced(staging / MODEL_FILE, onnx)
        else:
            _copy_synced(Path(onnx), staging / MODEL_FILE)
        _write_synced(staging / METADATA_FILE, metadata.encode())
        _publish(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return ModelBundle.load(target)


def _publish(staging: Path, target: Path) -> None:
    """Rename ``staging`` to ``target``, moving an existing ``target`` aside first."""
    if not target.exists():
        staging.rename(target)
        return
    aside = target.parent / f".{target.name}.old-{uuid.uuid4().hex}"
    target.rename(aside)
    try:
        staging.rename(target)
    except OSError:
        aside.rename(target)
        raise
    shutil.rmtree(aside, ignore_errors=True)


class ModelInfoResponse(BaseModel):
    """``GET /v1/model``: which model answers, for clients and for audit trails."""

    model_config = ConfigDict(
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "name": "ct-seg",
                    "version": "7",
                    "alias": "champion",
                    "run_id": "0f3c2a9b8e7d4c6b9a1f2e3d4c5b6a79",
                    "signature": {
                        "inputs": [{"type": "tensor", "dtype": "float32", "shape": [-1, 1, -1]}],
                    },
                    "tags": {"git_commit": "4e1d2c3"},
                }
            ]
        },
    )

    name: str
    version: str
    alias: str | None
    run_id: str | None
    signature: dict[str, Any]
    tags: dict[str, str]

    @classmethod
    def from_card(cls, card: ModelCard) -> ModelInfoResponse:
        """The public part of ``card`` (``extra`` stays internal)."""
        return cls(
            name=card.name,
            version=card.version,
            alias=card.alias,
            run_id=card.run_id,
            signature=card.signature,
            tags=card.tags,
        )
