"""MONAI datasets over cases larger than memory: an on-disk cache keyed by content, and a check.

A MONAI transform chain has a deterministic head (load, reorient, resample, normalise,
pad) and a random tail (patches, intensity jitter). ``CacheDataset`` keeps the head's
output of every case in memory, which a dataset larger than RAM cannot afford;
``cached_dataset`` keeps it on disk instead, with MONAI's ``PersistentDataset``: the
head runs once per case and is written to ``<root>/<fingerprint>/<key>.pt``, and every
epoch after reads it back and runs only the tail.

MONAI's default key is a hash of the item (its file *names*): a file rewritten under
the same name, or a changed preprocessing, would read a stale entry. Here the folder is
the fingerprint of the caller's settings (``medai.data.array_cache``: preprocessing,
labels, library versions...) and the key a hash of that and the bytes of the case's
files, so a changed setting or file is a new entry; names are hashed, never written.
Entries hold tensors without MONAI's metadata (which would carry the file names).

``check_cases`` runs the head of every case once before training, keeping nothing (or,
with a cache, storing it), so a broken case stops the command before any run opens, as
``CacheDataset``'s eager caching does, without holding the dataset.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monai.data import Dataset, PersistentDataset
from monai.transforms import Compose, RandomizableTrait, Transform

from medai.data.array_cache import open_array_cache
from medai.io import MedicalImageError
from medai.tracking.lineage import file_sha256

__all__ = ["ContentKeys", "cached_dataset", "check_cases", "deterministic_head"]

Item = Mapping[str, Any]
"""One case as the transform chain takes it: field -> a path or a list of paths (and more)."""

_IN_FLIGHT_PER_THREAD = 2


def deterministic_head(transform: Compose) -> Compose:
    """The transforms before the first random one: what ``PersistentDataset`` caches."""
    head = []
    for step in transform.transforms:
        if isinstance(step, RandomizableTrait) or not isinstance(step, Transform):
            break
        head.append(step)
    return Compose(head)


def case_files(item: Item) -> list[tuple[str, str]]:
    """``(field, path)`` of every file an item names, fields sorted, lists in order."""
    files: list[tuple[str, str]] = []
    for field in sorted(item):
        value = item[field]
        paths = value if isinstance(value, list | tuple) else [value]
        files.extend((field, str(path)) for path in paths if isinstance(path, str | os.PathLike))
    return files


def content_digest(item: Item) -> str:
    """SHA-256 over the item's files' content (and which field each belongs to), not names.

    Raises:
        MedicalImageError: a file cannot be read (named).
    """
    digest = hashlib.sha256()
    for field, path in case_files(item):
        try:
            content = file_sha256(Path(path))
        except OSError as exc:
            raise MedicalImageError(path, f"cannot be read ({exc.strerror or exc})") from None
        digest.update(f"{field}:{content}\n".encode())
    return digest.hexdigest()


def _identity(item: Item) -> str:
    """The item's files, as one string: which entry of ``ContentKeys`` is the item's."""
    return "\n".join(f"{field}={path}" for field, path in case_files(item))


@dataclass(frozen=True)
class ContentKeys:
    """``PersistentDataset``'s ``hash_func``: an item's entry name, from its files' content.

    Holds the keys in memory (the file names stay in this process, never on disk); a
    frozen dataclass of strings, so it pickles into DataLoader workers.
    """

    keys: Mapping[str, str]

    def __call__(self, item: Item) -> bytes:
        """The entry name of ``item`` (computed by ``cached_dataset``)."""
        return self.keys[_identity(item)].encode()


def cached_dataset(
    items: Sequence[Item],
    transform: Compose,
    root: Path,
    settings: Mapping[str, Any],
) -> PersistentDataset:
    """``PersistentDataset`` of ``items`` whose head is cached under ``root``, keyed by content.

    Args:
        items: The cases (``medai.segmentation.data.case_item``).
        transform: The whole chain; its deterministic head is cached.
        root: The cache folder (``train.cache_dir``); the entries go to
            ``<root>/<fingerprint of settings>/``.
        settings: Everything that decides the head's output (no patient data: it is
            written beside the entries as ``settings.json``).

    Raises:
        OSError: ``root`` cannot be created or written.
        MedicalImageError: a case's file cannot be read (named).
    """
    cache = open_array_cache(root, settings)
    keys = {_identity(item): cache.key(content_digest(item)) for item in items}
    return PersistentDataset(
        list(items), transform, cache_dir=cache.folder, hash_func=ContentKeys(keys)
    )


def check_cases(dataset: Dataset, *, threads: int | None = None) -> None:
    """Run the deterministic head of every case of ``dataset`` once; keep nothing in memory.

    For a ``PersistentDataset`` the head's output is stored in its cache (an entry that
    exists is not computed again), so the first epoch reads it back; for a plain
    ``Dataset`` it is computed and dropped. ``threads`` cases at a time (the CPU count
    by default), as ``CacheDataset`` fills its cache.

    Raises:
        Whatever the head raises for the first broken case (in order), e.g.
        ``MedicalImageError`` naming the file (MONAI may wrap it in a ``RuntimeError``).
    """
    head = deterministic_head(dataset.transform)
    if isinstance(dataset, PersistentDataset):
        checker: Dataset = PersistentDataset(
            dataset.data, head, cache_dir=dataset.cache_dir, hash_func=dataset.hash_func
        )
    else:
        checker = Dataset(dataset.data, head)
    count = threads or os.cpu_count() or 1
    _in_threads(lambda index: _drop(checker[index]), len(checker), count)


def _drop(_: object) -> None:
    """Let the checked case go (nothing of it is kept)."""


def _in_threads(work: Callable[[int], None], count: int, threads: int) -> None:
    """``work(i)`` for ``i < count`` on ``threads`` threads, a bounded batch at a time."""
    if threads <= 1 or count <= 1:
        for index in range(count):
            work(index)
        return
    batch = threads * _IN_FLIGHT_PER_THREAD
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="medai-check") as pool:
        for start in range(0, count, batch):
            list(pool.map(work, range(start, min(start + batch, count))))
