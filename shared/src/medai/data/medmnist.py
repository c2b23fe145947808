"""Read a grayscale binary or multi-label MedMNIST ``.npz`` (ChestMNIST, PneumoniaMNIST, ...).

MedMNIST ships each dataset as one ``.npz`` with ``{train,val,test}_images`` (N, H, W) uint8
and ``{train,val,test}_labels`` (N, K). It carries no patient ids, so a patient-level split
cannot be made or checked: its official train/val/test split is used as given. (ChestMNIST
is derived from NIH ChestX-ray14, whose official split is patient-disjoint.)

Only binary (PneumoniaMNIST: K = 1) and multi-label (ChestMNIST: K = 14) sets fit a
multi-label classifier; multi-class sets such as PathMNIST store class indices and are
refused, as are colour sets (N, H, W, 3).
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO, Final

import numpy as np
from numpy.lib.npyio import NpzFile
from numpy.typing import NDArray

from medai.data.decathlon import DatasetError

__all__ = ["MEDMNIST_SPLITS", "read_medmnist"]

MEDMNIST_SPLITS: Final = ("train", "val", "test")
"""The splits of a MedMNIST file, under these names (MedMNIST's own)."""

MedMNISTSplits = dict[str, tuple[NDArray[np.uint8], NDArray[np.float32]]]

_IMAGE_DIMS: Final = 3  # (N, H, W)
_LABEL_DIMS: Final = 2  # (N, K)
_NPZ_ERRORS: Final = (OSError, ValueError, EOFError, zipfile.BadZipFile)


def read_medmnist(npz_path: Path) -> MedMNISTSplits:
    """Read and check every split of a MedMNIST ``.npz`` file.

    Args:
        npz_path: The ``.npz`` file, e.g. ``chestmnist_64.npz``.

    Returns:
        ``{"train": (images, labels), "val": ..., "test": ...}``: images (N, H, W) uint8 with
        255 bright, labels (N, K) float32 holding 0.0 or 1.0; H, W and K are the same in
        every split.

    Raises:
        DatasetError: Naming the file and the key: the file is missing or not a readable
            ``.npz``, a key is missing, or an array has the wrong dtype, shape or values.
    """
    path = Path(npz_path)
    if not path.is_file():
        raise DatasetError(path, "MedMNIST .npz file does not exist")
    splits: MedMNISTSplits = {}
    try:
        # Our own handle: np.load leaks the one it opens when the zip directory is damaged.
        with path.open("rb") as stream, _open_npz(path, stream) as archive:
            for split in MEDMNIST_SPLITS:
                splits[split] = _split(path, archive, split)
    except DatasetError:
        raise
    except _NPZ_ERRORS as exc:  # a damaged member, or a pickled object array
        raise DatasetError(path, f"is not a readable .npz file ({exc})") from exc
    _require_same(path, splits, "image size (H, W)", lambda images, _: images.shape[1:])
    _require_same(path, splits, "number of labels K", lambda _, labels: labels.shape[1:])
    return splits


def _open_npz(path: Path, stream: BinaryIO) -> NpzFile:
    try:
        loaded = np.load(stream, allow_pickle=False)
    except _NPZ_ERRORS as exc:
        raise DatasetError(path, f"is not a readable .npz file ({exc})") from exc
    if not isinstance(loaded, NpzFile):  # a bare .npy array
        raise DatasetError(path, "holds one .npy array; expected a MedMNIST .npz archive")
    return loaded


def _split(
    path: Path, archive: NpzFile, split: str
) -> tuple[NDArray[np.uint8], NDArray[np.float32]]:
    images = _images(path, archive, f"{split}_images")
    labels = _labels(path, archive, f"{split}_labels")
    if len(images) != len(labels):
        raise DatasetError(
            path, f"{split}_images holds {len(images)} images but {split}_labels {len(labels)} rows"
        )
    return images, labels.astype(np.float32)


def _array(path: Path, archive: NpzFile, key: str) -> NDArray[Any]:
    if key not in archive.files:
        raise DatasetError(path, f"missing key {key!r}; MedMNIST files hold {_expected_keys()}")
    array: NDArray[Any] = archive[key]
    if len(array) == 0:
        raise DatasetError(path, f"{key} is empty")
    return array


def _images(path: Path, archive: NpzFile, key: str) -> NDArray[np.uint8]:
    images = _array(path, archive, key)
    if images.dtype != np.uint8:
        raise DatasetError(path, f"{key}: expected dtype uint8, got {images.dtype}")
    if images.ndim != _IMAGE_DIMS:
        raise DatasetError(
            path,
            f"{key}: expected grayscale images of shape (N, H, W), got {images.shape}"
            + (
                "; colour MedMNIST sets are not supported" if images.ndim == _IMAGE_DIMS + 1 else ""
            ),
        )
    return images


def _labels(path: Path, archive: NpzFile, key: str) -> NDArray[np.integer[Any]]:
    labels = _array(path, archive, key)
    if not np.issubdtype(labels.dtype, np.integer) and labels.dtype != np.bool_:
        raise DatasetError(path, f"{key}: expected integer labels, got dtype {labels.dtype}")
    if labels.ndim != _LABEL_DIMS:
        raise DatasetError(path, f"{key}: expected shape (N, K), got {labels.shape}")
    outside = labels[(labels != 0) & (labels != 1)]
    if outside.size:
        raise DatasetError(
            path,
            f"{key}: expected 0/1 labels (binary or multi-label), got {int(outside.max())}; "
            "multi-class MedMNIST sets store class indices and are not supported",
        )
    return labels


def _require_same(
    path: Path,
    splits: MedMNISTSplits,
    what: str,
    measure: Callable[[NDArray[np.uint8], NDArray[np.float32]], tuple[int, ...]],
) -> None:
    values = {split: measure(images, labels) for split, (images, labels) in splits.items()}
    first = values[MEDMNIST_SPLITS[0]]
    for split, value in values.items():
        if value != first:
            raise DatasetError(
                path, f"{split} has {what} {value}, but {MEDMNIST_SPLITS[0]} has {first}"
            )


def _expected_keys() -> str:
    return ", ".join(f"{s}_images, {s}_labels" for s in MEDMNIST_SPLITS)
