"""Radiographs read and prepared one at a time, for datasets larger than memory.

CheXpert's 200,000 radiographs do not fit in memory as arrays, so training does not
hold them: ``PreparedRadiographs`` is a map-style dataset (a length and an item per
index) over the dataset's ``RadiographItem``s, and each item is read and prepared
(``medai.io.read_radiograph``, then ``medai.classification.preprocessing.prepare_image``
with the project's image step, exactly as the server prepares an upload) when it is
asked for. It holds paths, labels and settings, never an open file, so it pickles into
DataLoader workers and each DDP rank reads only its own shard.

``check_radiographs`` keeps the promise that a dataset with one unreadable image stops
``train`` with one line naming the file before any MLflow run opens: it reads and
prepares every item up front on a few threads, keeping nothing but (with a cache) a
hash per item, so its memory does not grow with the dataset.

With ``train.cache: disk`` every prepared image is also kept on disk
(``medai.data.array_cache``): the check stores what it prepares, an epoch reads the
small stored copy instead of decoding the original again, and a later run skips the
decode of every item whose stored copy exists. The store's folder is a hash of the
preprocessing settings, the image step's name, the reader's limits, ``CACHE_FORMAT``
and the versions of numpy, Pillow and pydicom;
an entry's name a hash of that and the file's bytes (never its name: file names can
carry patient data). No torch here: the command checks the data before torch loads.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import PIL
import pydicom
from numpy.typing import NDArray

from medai.classification.data import RadiographItem
from medai.classification.extensions import ImageStep
from medai.classification.preprocessing import prepare_image
from medai.classification.settings import PreprocessingSettings
from medai.data.array_cache import ArrayCache, callable_name
from medai.io import MedicalImageError, RadiographLimits, read_radiograph

FloatArray = NDArray[np.float32]
ResultT = TypeVar("ResultT")

CACHE_FORMAT = 1
"""Bumped whenever the same file and settings would prepare a different array (a new
resize, a new reader): every stored image of an older format is then ignored."""

_IN_FLIGHT_PER_THREAD = 8
"""Items handed to the pool at a time, per thread: bounds the check's pending work."""


@dataclass(frozen=True)
class ImagePreparation:
    """How an item becomes the network's input: what is accepted, and how it is resized.

    Attributes:
        preprocessing: The run's ``preprocessing`` section.
        limits: What the reader accepts (``radiograph``).
        image_step: The project's image step (``preprocessing.image_step: project``), or None.
    """

    preprocessing: PreprocessingSettings
    limits: RadiographLimits
    image_step: ImageStep | None = None

    @property
    def image_shape(self) -> tuple[int, int]:
        """``(S, S)``: every prepared image's shape."""
        side = self.preprocessing.image_size
        return side, side

    def prepare(self, item: RadiographItem) -> FloatArray:
        """The item read (checked against ``limits``) and prepared as the network sees it.

        Raises:
            medai.io.MedicalImageError: the file (or array item) cannot be used, named.
        """
        return self.prepare_pixels(_label(item), item.read(self.limits).pixels)

    def prepare_pixels(self, label: str, pixels: NDArray[np.float32]) -> FloatArray:
        """``prepare_image`` of read pixels; a failure names ``label`` (the file).

        Raises:
            medai.io.MedicalImageError: the image (or the project's step on it) fails.
        """
        try:
            return prepare_image(
                pixels,
                self.preprocessing.image_size,
                standardize=self.preprocessing.standardize,
                image_step=self.image_step,
            )
        except ValueError as exc:
            raise MedicalImageError(label, f"cannot be prepared for the network: {exc}") from None

    def cache_settings(self) -> dict[str, Any]:
        """Everything that decides a prepared image, for the cache's fingerprint (no PHI)."""
        return {
            "kind": "classification",
            "format": CACHE_FORMAT,
            "preprocessing": self.preprocessing.model_dump(mode="json"),
            "image_step": callable_name(self.image_step),
            "limits": dataclasses.asdict(self.limits),
            # A reader or resize that changed with its library would change the image.
            "versions": {
                "numpy": np.__version__,
                "pillow": PIL.__version__,
                "pydicom": pydicom.__version__,
            },
        }


class PreparedRadiographs:
    """A map-style dataset of ``(image (S, S) float32, labels (K,) float32)`` read per item.

    Nothing is read when it is built: an item is read, checked and prepared when indexed
    (from the cache when there is one and it holds the item). ``labels`` are the items'
    own (from the label CSV), so the loss weights need no image.
    """

    def __init__(
        self,
        items: Sequence[RadiographItem],
        preparation: ImagePreparation,
        *,
        cache: ArrayCache | None = None,
        keys: Sequence[str] | None = None,
    ) -> None:
        """Hold ``items`` and how to prepare them; ``keys`` name their cache entries.

        Raises:
            ValueError: ``cache`` without one key per item.
        """
        if cache is not None and (keys is None or len(keys) != len(items)):
            raise ValueError("a cached dataset needs one cache key per item")
        self.items = tuple(items)
        self.preparation = preparation
        self.cache = cache
        self.keys = tuple(keys) if keys is not None else None
        self.labels: NDArray[np.float32] = np.asarray(
            [item.labels for item in self.items], dtype=np.float32
        )

    def __len__(self) -> int:
        """Number of items."""
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[FloatArray, NDArray[np.float32]]:
        """The prepared image of item ``index`` and its labels."""
        return self.image(index), self.labels[index]

    def __iter__(self) -> Iterator[tuple[FloatArray, NDArray[np.float32]]]:
        """Every item in order, one read at a time."""
        for index in range(len(self)):
            yield self[index]

    @property
    def image_shape(self) -> tuple[int, int]:
        """``(S, S)``, without reading anything."""
        return self.preparation.image_shape

    @property
    def images(self) -> PreparedImages:
        """The images alone, as a map-style sequence (the training dataset's input)."""
        return PreparedImages(self)

    def image(self, index: int) -> FloatArray:
        """Item ``index`` prepared: from the cache if it holds it, else read (and stored).

        Raises:
            medai.io.MedicalImageError: the item cannot be read or prepared (named).
        """
        item = self.items[index]
        if self.cache is None or self.keys is None:
            return self.preparation.prepare(item)
        key = self.keys[index]
        stored = self.cache.load(key)
        if (
            stored is not None
            and stored.dtype == np.float32
            and stored.shape == self.preparation.image_shape
        ):
            return stored
        prepared = self.preparation.prepare(item)
        self.cache.store(key, prepared)
        return prepared


@dataclass(frozen=True)
class PreparedImages:
    """``PreparedRadiographs.image`` as a sequence: ``len`` and ``[index]``."""

    source: PreparedRadiographs

    def __len__(self) -> int:
        """Number of items."""
        return len(self.source)

    def __getitem__(self, index: int) -> FloatArray:
        """The prepared image of item ``index``."""
        return self.source.image(index)


def check_radiographs(
    items: Sequence[RadiographItem],
    preparation: ImagePreparation,
    *,
    threads: int = 4,
    cache: ArrayCache | None = None,
) -> PreparedRadiographs:
    """Read and prepare every item once, keeping no pixels; the dataset that reads them again.

    Without a cache every item is read and prepared and the result dropped. With one,
    each file's bytes are hashed into its entry's key; an item whose entry exists was
    prepared from these very bytes with these very settings and is not decoded again,
    any other is prepared and stored. At most ``threads`` images are decoded at a time,
    so memory stays flat however many items there are.

    Raises:
        medai.io.MedicalImageError: the first item (in order) that cannot be read or
            prepared, named in one line.
    """
    if cache is None:

        def check(item: RadiographItem) -> None:
            preparation.prepare(item)  # checked, then dropped: nothing is kept

        _in_threads(check, items, threads)
        return PreparedRadiographs(items, preparation)
    keys = _in_threads(lambda item: _cached(item, preparation, cache), items, threads)
    return PreparedRadiographs(items, preparation, cache=cache, keys=keys)


def _cached(item: RadiographItem, preparation: ImagePreparation, cache: ArrayCache) -> str:
    """The item's cache key, after storing its prepared image unless the cache holds it."""
    if item.path is None:
        key = cache.key(_array_digest(item))
        if not cache.holds(key):
            cache.store(key, preparation.prepare(item))
        return key
    content = _file_bytes(item.path, preparation.limits)
    key = cache.key(hashlib.sha256(content).hexdigest())
    if not cache.holds(key):
        radiograph = read_radiograph(content, name=str(item.path), limits=preparation.limits)
        cache.store(key, preparation.prepare_pixels(_label(item), radiograph.pixels))
    return key


def _file_bytes(path: Path, limits: RadiographLimits) -> bytes:
    """The file's bytes; a missing or unreadable file fails as the reader would say it."""
    if not path.is_file():
        read_radiograph(path, limits=limits)  # raises its own "does not exist" / "is not a file"
    try:
        return path.read_bytes()
    except OSError as exc:
        raise MedicalImageError(path, f"cannot be read ({exc.strerror})") from None


def _array_digest(item: RadiographItem) -> str:
    """SHA-256 of an array item's type, shape and bytes (MedMNIST: no file to hash)."""
    if item.pixels is None:  # pragma: no cover - an item without a file has pixels
        raise MedicalImageError(item.item_id, "has neither a file nor pixels")
    pixels = np.ascontiguousarray(item.pixels)
    digest = hashlib.sha256(f"{pixels.dtype.str}{pixels.shape}".encode())
    digest.update(pixels.tobytes())
    return digest.hexdigest()


def _label(item: RadiographItem) -> str:
    """What a message calls the item: its file, or its id for an array item."""
    return str(item.path) if item.path is not None else item.item_id


def _in_threads(
    work: Callable[[RadiographItem], ResultT], items: Sequence[RadiographItem], threads: int
) -> list[ResultT]:
    """``[work(item) for item in items]`` on threads, a bounded batch at a time.

    ``ThreadPoolExecutor.map`` submits every item at once (a future each); batches keep
    the pending work to ``threads * _IN_FLIGHT_PER_THREAD`` items. The first failure in
    order is raised.
    """
    if threads <= 1 or len(items) <= 1:
        return [work(item) for item in items]
    batch = threads * _IN_FLIGHT_PER_THREAD
    results: list[ResultT] = []
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="medai-check") as pool:
        for start in range(0, len(items), batch):
            results.extend(pool.map(work, items[start : start + batch]))
    return results
