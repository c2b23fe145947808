"""An on-disk store of preprocessed arrays, one ``.npy`` file per item, named by hashes only.

A dataset larger than memory is read item by item; preparing an item (decoding a
2000-pixel radiograph and resizing it) costs far more than reading its prepared copy
back. This store keeps that copy: ``<root>/<fingerprint>/<key>.npy``, where the
fingerprint is a hash of everything that decides the prepared array (the caller's
preprocessing settings) and the key a hash of the fingerprint and the item's content.
A changed setting starts a new folder and a changed file a new key, so a stale entry is
never read; no file name, patient id or other identifier of the source appears in the
store, only hashes.

Writes go to a temporary file in the entry's own folder and are renamed into place
(atomic on one filesystem), so several processes (DDP ranks, DataLoader workers) may
fill one store at once and a killed run leaves no half-written entry. An entry that
cannot be read back (deleted, damaged on disk) is a miss: the caller prepares the item
again and stores it anew. ``np.load`` runs with ``allow_pickle=False``: an entry is
numbers, never code. numpy only; no torch.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["SETTINGS_FILE", "ArrayCache", "callable_name", "fingerprint_of", "open_array_cache"]

SETTINGS_FILE = "settings.json"
"""Beside the entries: the settings the folder's fingerprint was computed from (for people)."""

_SUFFIX = ".npy"


def callable_name(function: object) -> str | None:
    """``module.qualname`` of a project's function (its class's, for an instance), or None.

    What a fingerprint records of a project's own step (an image step, a normaliser):
    its name, not its code; a step changed under the same name needs a new cache folder
    (delete the old one, or rename the step).
    """
    if function is None:
        return None
    named = function if hasattr(function, "__qualname__") else type(function)
    return f"{getattr(named, '__module__', '?')}.{getattr(named, '__qualname__', '?')}"


def fingerprint_of(settings: Mapping[str, Any]) -> str:
    """SHA-256 of ``settings`` as canonical JSON (sorted keys): equal settings, equal hash.

    Raises:
        TypeError: a value JSON cannot represent.
    """
    text = json.dumps(settings, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class ArrayCache:
    """The entries of one fingerprint: ``folder/<key>.npy``.

    Holds a path only (no open file), so it pickles into DataLoader workers.

    Attributes:
        folder: ``<root>/<fingerprint>``.
        fingerprint: The hash of the settings every entry was prepared with.
    """

    folder: Path
    fingerprint: str

    def key(self, content_digest: str) -> str:
        """The entry name of an item whose content hashes to ``content_digest``."""
        return hashlib.sha256(f"{self.fingerprint}:{content_digest}".encode()).hexdigest()

    def path(self, key: str) -> Path:
        """Where the entry ``key`` lives (whether or not it exists yet)."""
        return self.folder / f"{key}{_SUFFIX}"

    def holds(self, key: str) -> bool:
        """Whether an entry ``key`` has been written (it may still fail to load)."""
        return self.path(key).is_file()

    def load(self, key: str) -> NDArray[Any] | None:
        """The stored array, or None when there is none or it cannot be read back."""
        try:
            stored = np.load(self.path(key), allow_pickle=False)
        except (OSError, ValueError, EOFError):
            return None
        # A zip (.npz) would come back as an open NpzFile: not an entry this store wrote.
        return stored if isinstance(stored, np.ndarray) else None

    def store(self, key: str, array: NDArray[Any]) -> None:
        """Write ``array`` as entry ``key``, atomically (temporary file, then rename)."""
        buffer = io.BytesIO()
        np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
        _write_atomically(self.path(key), buffer.getvalue())


def open_array_cache(root: Path, settings: Mapping[str, Any]) -> ArrayCache:
    """The store of ``settings`` under ``root``, its folder created (and described) if new.

    Args:
        root: The cache folder (``train.cache_dir``).
        settings: Everything that decides a prepared array; hashed into the folder name
            and written beside the entries as ``settings.json``. It must hold no patient
            data (no file names, no ids).

    Raises:
        OSError: ``root`` cannot be created or written (or is a file).
    """
    fingerprint = fingerprint_of(settings)
    folder = root / fingerprint
    folder.mkdir(parents=True, exist_ok=True)
    described = folder / SETTINGS_FILE
    if not described.is_file():
        text = json.dumps(settings, sort_keys=True, indent=2) + "\n"
        _write_atomically(described, text.encode())
    return ArrayCache(folder, fingerprint)


def _write_atomically(target: Path, data: bytes) -> None:
    """Write a temporary file beside ``target``, then rename it: never a half-written file."""
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".partial-")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        Path(temporary).replace(target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            Path(temporary).unlink()
