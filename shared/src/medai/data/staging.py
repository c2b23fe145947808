"""Write a dataset folder all at once: build it beside the target, then rename it into place.

Generators and converters take minutes; an interrupted run must never leave a folder
that looks complete (a ``dataset.json`` or ``labels.csv`` pointing at missing files).
The folder is built as a hidden sibling and renamed when complete; a rename on one
filesystem is atomic, and a crash leaves at most a ``.<name>.partial-*`` folder.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


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
            staging.replace(root)  # replaces an empty directory too
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
