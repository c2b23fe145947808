"""The labelled radiographs a classification project trains and evaluates on.

A project's data source returns ``ClassificationData``: the images (files, or MedMNIST
arrays), their labels (1, 0 or NaN for unknown), the train/validation split and, where
the dataset has one, a separate test split. ``load_radiograph_data`` is the usual
source: the project's generated sample, a CheXpert- or NIH-layout label CSV, or a
MedMNIST ``.npz``. Files and CSVs are split by patient with a seed, and the split is
checked for patients on both sides; MedMNIST keeps its official split (it has no
patient ids).

An item is read with ``medai.io.read_radiograph`` (an unreadable file stops with one
line naming it); ``medai.classification.prepared`` turns items into the network's
input one at a time, with ``medai.classification.preprocessing`` (the very function
the server calls), so no dataset is ever held as arrays. No torch here.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray

from medai.classification.settings import RadiographDataSettings
from medai.config import ConfigError, ProjectSettings
from medai.data import (
    DataManifest,
    DatasetError,
    Split,
    build_manifest,
    check_no_group_leak,
    make_group_split,
    read_label_csv,
    read_medmnist,
)
from medai.io import Radiograph, RadiographLimits, read_radiograph
from medai.project import ProjectBinding

SettingsT = TypeVar("SettingsT", bound=ProjectSettings)
ResultT = TypeVar("ResultT")

SAMPLE_LABELS_FILE = "labels.csv"
"""The label CSV (CheXpert layout) a project's sample writer leaves in its folder."""

SampleWriter = Callable[[Path], Path]
"""Writes (or reuses) a project's sample dataset below ``<data.root>/raw``.

Called with that folder; returns the dataset folder, which holds ``labels.csv`` in the
CheXpert layout with image paths relative to it.
"""


@dataclass(frozen=True, eq=False)
class RadiographItem:
    """One labelled image: a file, or a MedMNIST array.

    Attributes:
        item_id: Unique within the dataset: the path relative to the dataset folder, or
            ``<split>/<index>`` for MedMNIST.
        labels: 1.0 present, 0.0 absent, NaN unknown; in the dataset's label order.
        patient_id: Who the image shows (None for MedMNIST, which does not say).
        path: The image file, or None for an array.
        pixels: The 8-bit grey levels of an array item (255 bright), or None for a file.
    """

    item_id: str
    labels: tuple[float, ...]
    patient_id: str | None = None
    path: Path | None = None
    pixels: NDArray[np.uint8] | None = field(default=None, repr=False)

    def read(self, limits: RadiographLimits) -> Radiograph:
        """The radiograph, read and checked (files) or wrapped (arrays).

        Raises:
            medai.io.MedicalImageError: one line naming the file and the problem.
        """
        if self.path is not None:
            return read_radiograph(self.path, limits=limits)
        if self.pixels is None:  # pragma: no cover - the loaders always set one of the two
            raise DatasetError(Path(self.item_id), "item has neither a file nor pixels")
        return Radiograph.from_uint8(self.pixels)


@dataclass(frozen=True)
class ClassificationData:
    """A labelled dataset and how it is divided.

    Attributes:
        name: The dataset's name (its folder, or the ``.npz`` file's stem).
        root: The folder item ids are relative to.
        labels: The label names, in column order.
        items: Every item of every split.
        split: Training and validation item ids.
        test: Item ids of a held-out test split (MedMNIST's ``test``), or empty.
        index_files: The files that list the items (the CSV, the ``.npz``).
    """

    name: str
    root: Path
    labels: tuple[str, ...]
    items: tuple[RadiographItem, ...]
    split: Split
    test: tuple[str, ...] = ()
    index_files: tuple[Path, ...] = ()

    def _select(self, ids: Sequence[str]) -> list[RadiographItem]:
        wanted = set(ids)
        return [item for item in self.items if item.item_id in wanted]

    def training_items(self) -> list[RadiographItem]:
        """Items of the training side of the split, in dataset order."""
        return self._select(self.split.train)

    def validation_items(self) -> list[RadiographItem]:
        """Items of the validation side of the split, in dataset order."""
        return self._select(self.split.validation)

    def evaluation_items(self) -> list[RadiographItem]:
        """What evaluation scores: the test split if the dataset has one, else validation."""
        return self._select(self.test) if self.test else self.validation_items()

    @property
    def evaluation_split(self) -> str:
        """``test`` or ``validation``: which split ``evaluation_items`` returns."""
        return "test" if self.test else "validation"

    def manifest(self, items: Sequence[RadiographItem] | None = None) -> DataManifest:
        """Hashes of what a run reads: the index files and the image files (of ``items``)."""
        chosen = self.items if items is None else items
        files = [*self.index_files, *(item.path for item in chosen if item.path is not None)]
        return build_manifest(self.name, self.root, files)


def load_radiograph_data(
    binding: ProjectBinding[SettingsT],
    settings: ProjectSettings,
    data: RadiographDataSettings,
    sample: SampleWriter | None = None,
) -> ClassificationData:
    """The configured dataset: the project's sample, a label CSV, or a MedMNIST file.

    The split is recorded under ``<data.root>/processed/<dataset>/split.json``.

    Args:
        binding: The project (relative paths start at its folder).
        settings: The project's settings (seed and environment).
        data: The project's data section.
        sample: Writes the project's sample data (for ``source: synthetic``).

    Raises:
        ConfigError: the source is not allowed here (synthetic in production) or its
            path is not set; the message names the key.
        medai.data.DatasetError: the CSV or ``.npz`` cannot be used (file, line, column).
    """
    data_root = binding.resolve_path(data.root)
    if data.source == "medmnist":
        dataset = _medmnist(binding, data)
    else:
        csv_path, image_root = _csv_location(binding, settings, data, sample, data_root)
        dataset = _labelled_csv(csv_path, image_root, data, settings.seed)
    record = data_root / "processed" / dataset.name / "split.json"
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(dataset.split.to_json(), encoding="utf-8")
    return dataset


def _csv_location(
    binding: ProjectBinding[SettingsT],
    settings: ProjectSettings,
    data: RadiographDataSettings,
    sample: SampleWriter | None,
    data_root: Path,
) -> tuple[Path, Path]:
    if data.source == "csv":
        if data.csv.path is None:
            raise ConfigError(
                "data.csv.path", None, "required when data.source is 'csv': the label CSV"
            )
        csv_path = binding.resolve_path(data.csv.path)
        root = data.csv.image_root
        return csv_path, binding.resolve_path(root) if root is not None else csv_path.parent
    if not data.allow_synthetic:
        # Checked here, where data is needed, so a production server needs no dataset.
        raise ConfigError(
            "data.source",
            None,
            f"'synthetic' is refused in the {settings.environment!r} environment "
            "(data.allow_synthetic is false): set data.source to csv or medmnist",
        )
    if sample is None:
        raise ConfigError("data.source", None, "this project has no synthetic sample data")
    folder = sample(data_root / "raw")
    return folder / SAMPLE_LABELS_FILE, folder


def _labelled_csv(
    csv_path: Path, image_root: Path, data: RadiographDataSettings, seed: int
) -> ClassificationData:
    rows = read_label_csv(
        csv_path,
        image_root=image_root,
        label_names=data.labels,
        layout=data.csv.layout,
        uncertain=data.csv.uncertain,
    )
    # read_label_csv returns normalised absolute paths; ids are relative to the same root.
    root = Path(os.path.normpath(image_root.expanduser().absolute()))
    items: list[RadiographItem] = []
    seen: set[str] = set()
    for row in rows:
        item_id = row.path.relative_to(root).as_posix()
        if item_id in seen:
            raise DatasetError(csv_path, f"image {item_id!r} is listed more than once")
        seen.add(item_id)
        items.append(RadiographItem(item_id, row.labels, row.patient_id, row.path))
    groups = {item.item_id: item.patient_id or item.item_id for item in items}
    try:
        split = make_group_split(list(groups), groups, data.validation_fraction, seed)
    except ValueError as exc:
        raise DatasetError(csv_path, f"cannot split by patient ({exc})") from None
    check_no_group_leak(split, groups)
    return ClassificationData(
        name=root.name,
        root=root,
        labels=data.labels,
        items=tuple(items),
        split=split,
        index_files=(csv_path,),
    )


def _medmnist(
    binding: ProjectBinding[SettingsT], data: RadiographDataSettings
) -> ClassificationData:
    if data.medmnist.path is None:
        raise ConfigError(
            "data.medmnist.path", None, "required when data.source is 'medmnist': the .npz file"
        )
    npz = binding.resolve_path(data.medmnist.path)
    splits = read_medmnist(npz)
    columns = splits["train"][1].shape[1]
    if columns != len(data.labels):
        raise DatasetError(
            npz,
            f"holds {columns} labels per image but data.labels names {len(data.labels)} "
            f"({', '.join(data.labels)})",
        )
    items: list[RadiographItem] = []
    ids: dict[str, list[str]] = {}
    for name, (images, labels) in splits.items():
        ids[name] = [f"{name}/{index:06d}" for index in range(len(images))]
        items.extend(
            RadiographItem(item_id, tuple(float(v) for v in row), pixels=image)
            for item_id, image, row in zip(ids[name], images, labels, strict=True)
        )
    n_train, n_val = len(ids["train"]), len(ids["val"])
    split = Split(
        tuple(ids["train"]),
        tuple(ids["val"]),
        seed=-1,
        validation_fraction=n_val / (n_train + n_val),
        source=str(npz),
    )
    return ClassificationData(
        name=npz.stem,
        root=npz.parent,
        labels=data.labels,
        items=tuple(items),
        split=split,
        test=tuple(ids["test"]),
        index_files=(npz,),
    )


def read_items(
    items: Sequence[RadiographItem], limits: RadiographLimits, *, threads: int = 4
) -> list[Radiograph]:
    """Read every item, in order, on ``threads`` threads (decoders release the GIL).

    Raises:
        medai.io.MedicalImageError: the first unreadable file, named in one line.
    """
    return _in_threads(lambda item: item.read(limits), items, threads)


def _in_threads(
    work: Callable[[RadiographItem], ResultT], items: Sequence[RadiographItem], threads: int
) -> list[ResultT]:
    """``[work(item) for item in items]``, on threads; the first failure (in order) is raised."""
    if threads <= 1 or len(items) <= 1:
        return [work(item) for item in items]
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="medai-read") as pool:
        return list(pool.map(work, items))


def label_matrix(items: Sequence[RadiographItem]) -> NDArray[np.float64]:
    """The items' labels as ``(N, K)`` float64 (1, 0 or NaN), for the metrics."""
    return np.asarray([item.labels for item in items], dtype=np.float64)
