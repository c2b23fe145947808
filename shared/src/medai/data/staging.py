"""Write a dataset folder all at once: build it beside the target, then rename it into place.

Generators and converters take minutes; an interrupted run must never leave a folder
that looks complete (a ``dataset.json`` or ``labels.csv`` pointing at missing files).
The folder is built as a hidden sibling and renamed when complete; a rename on one
filesystem is atomic, and a crash leaves at most a ``.<name>.partial-*`` folder.

``write_decathlon_folder`` is the same for the Medical Segmentation Decathlon layout that
every volume generator writes, so the generators share one way to write it.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

__all__ = ["staged_folder", "write_decathlon_folder"]


@contextmanager
def staged_folder(root: Path, *, replace: bool = False) -> Iterator[Path]:
    """Yield an empty hidden sibling of ``root`` to write into; it becomes ``root`` on success.

    Args:
        root: The folder to create. It may not exist or be empty; with ``replace`` an
            existing folder is swapped out and deleted only after the new one is in place.
        replace: Whether an existing, non-empty ``root`` may be replaced.

    Raises:
        FileExistsError: ``root`` exists, is not empty and ``replace`` is False.
    """
    root = Path(root)
    occupied = root.exists() and not (root.is_dir() and not any(root.iterdir()))
    if occupied and not replace:
        raise FileExistsError(f"{root} exists and is not an empty directory")
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = root.parent / f".{root.name}.partial-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:
        yield staging
        if occupied:
            retired = root.parent / f".{root.name}.old-{uuid.uuid4().hex[:8]}"
            root.replace(retired)
            staging.replace(root)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            _move_into_place(staging, root)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _move_into_place(staging: Path, root: Path) -> None:
    """Rename ``staging`` to ``root``; if another process got there first, keep theirs.

    Several processes of one training (torchrun ranks, the pods of a training Job) may
    generate the same dataset from the same config at once: the first complete folder
    wins and the others discard their copy.
    """
    try:
        staging.replace(root)  # replaces an empty directory too
    except OSError:
        if not (root.is_dir() and any(root.iterdir())):
            raise
        shutil.rmtree(staging, ignore_errors=True)


def write_decathlon_folder(
    root: Path,
    n_cases: int,
    write_case: Callable[[Path, int], None],
    description: Mapping[str, object],
) -> Path:
    """Write ``n_cases`` cases and their ``dataset.json`` as ``root``, all at once.

    The folder is staged (``staged_folder``): ``imagesTr/`` and ``labelsTr/`` are created,
    each case is written, and ``dataset.json`` comes last, so a reader never finds a
    description that names missing files. An existing dataset is never overwritten.

    Args:
        root: Dataset folder to create; it must not exist or be an empty directory.
        n_cases: Number of cases (>= 1).
        write_case: Writes case ``index`` (0 to ``n_cases - 1``, in order) into the
            staging folder it is given, under its ``imagesTr/`` and ``labelsTr/``.
        description: The content of ``dataset.json``, written as indented JSON.

    Returns:
        ``root``.

    Raises:
        ValueError: If ``n_cases`` < 1.
        FileExistsError: If ``root`` exists and is not an empty directory.
    """
    if n_cases < 1:
        raise ValueError(f"n_cases must be >= 1, got {n_cases}")
    root = Path(root)
    with staged_folder(root) as staging:
        (staging / "imagesTr").mkdir()
        (staging / "labelsTr").mkdir()
        for index in range(n_cases):
            write_case(staging, index)
        text = json.dumps(dict(description), indent=2)
        (staging / "dataset.json").write_text(text + "\n", encoding="utf-8")
    return root
