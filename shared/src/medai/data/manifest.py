"""A dataset manifest: every file a run read, with its content hash.

The manifest's digest is the lineage tag that answers "which data trained this model?"
even when the data lives outside git.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from medai.tracking.lineage import file_sha256


@dataclass(frozen=True)
class ManifestEntry:
    """One file of a dataset, relative to the dataset root."""

    relative_path: str
    sha256: str
    size_bytes: int


@dataclass(frozen=True)
class DataManifest:
    """The files of a dataset and a digest over all of them."""

    name: str
    root: Path
    entries: tuple[ManifestEntry, ...]

    @property
    def digest(self) -> str:
        """SHA-256 over the sorted (path, hash) pairs: changes when any file changes."""
        digest = hashlib.sha256()
        for entry in sorted(self.entries, key=lambda e: e.relative_path):
            digest.update(f"{entry.relative_path}\0{entry.sha256}\n".encode())
        return digest.hexdigest()

    def as_rows(self) -> list[dict[str, str | int]]:
        """Rows for a table artifact (path, sha256, size)."""
        return [
            {"path": e.relative_path, "sha256": e.sha256, "size_bytes": e.size_bytes}
            for e in sorted(self.entries, key=lambda e: e.relative_path)
        ]


def build_manifest(name: str, root: Path, files: Iterable[Path]) -> DataManifest:
    """Hash ``files`` (absolute, or relative to ``root``) into a manifest."""
    entries = []
    for file in sorted({(root / f).resolve() for f in files}):
        try:
            relative = file.relative_to(root.resolve()).as_posix()
        except ValueError:
            relative = str(file)
        entries.append(ManifestEntry(relative, file_sha256(file), file.stat().st_size))
    return DataManifest(name=name, root=root, entries=tuple(entries))
