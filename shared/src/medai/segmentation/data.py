"""The cases a segmentation project trains and evaluates on, and where they come from.

A project's data source returns ``SegmentationData``: the parsed dataset (image and
label paths, channel and label names) and its case-level split. ``load_or_generate`` is
the usual source: the configured MSD / nnU-Net folder, or else the project's own sample
data, generated once into a folder named by everything that determines its content.
``case_item`` is the one way a case becomes the item the transform chains load
(``medai.segmentation.transforms.LoadCased``); this module imports no torch.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TypeVar

from medai.config import ConfigError, ProjectSettings
from medai.data import (
    DataManifest,
    DecathlonDataset,
    LabelledCase,
    Split,
    build_manifest,
    load_decathlon,
    resolve_split,
)
from medai.project import ProjectBinding
from medai.segmentation.regions import Regions, regions_from_settings, resolve_regions
from medai.segmentation.settings import DecathlonDataSettings

SettingsT = TypeVar("SettingsT", bound=ProjectSettings)
_DIGEST_CHARS = 10

IMAGE: Final = "image"
"""Item key of a case's image: its file path(s), then (after LoadCased) a (C, X, Y, Z) tensor."""
LABEL: Final = "label"
"""Item key of a case's label map: its file path, then a (1, X, Y, Z) tensor."""


def case_item(case: LabelledCase) -> dict[str, Any]:
    """The item the transform chains load for ``case``: its image file(s) and label file.

    The image is always a list of paths, one 3D or 4D file or one file per channel, so a
    multi-channel case needs no other code path than a single-channel one.
    """
    return {IMAGE: [str(path) for path in case.images], LABEL: str(case.label)}


@dataclass(frozen=True)
class SegmentationData:
    """A dataset, its case-level train/validation split and the project's region definition.

    Attributes:
        dataset: The parsed dataset folder.
        split: Which cases train and which validate.
        configured_regions: The project's ``data.regions`` (None: ``dataset.json``'s, if any).
    """

    dataset: DecathlonDataset
    split: Split
    configured_regions: Regions | None = None

    @property
    def regions(self) -> Regions | None:
        """The regions a model predicts (sigmoid, one output each); None: label-based.

        Raises:
            ConfigError: the configured regions disagree with ``dataset.json``'s.
        """
        return resolve_regions(self.configured_regions, self.dataset)

    @property
    def output_channels(self) -> int:
        """The network's output channels: one per region, else one per label (background too)."""
        regions = self.regions
        return len(regions) if regions is not None else len(self.labels)

    @property
    def labels(self) -> dict[int, str]:
        """Label value -> name, background (0) included."""
        return dict(self.dataset.labels)

    def training_cases(self) -> list[LabelledCase]:
        """Cases of the training side of the split, in dataset order."""
        return [c for c in self.dataset.cases if c.case_id in self.split.train]

    def validation_cases(self) -> list[LabelledCase]:
        """Cases of the validation side of the split, in dataset order."""
        return [c for c in self.dataset.cases if c.case_id in self.split.validation]

    def manifest(self, cases: Sequence[LabelledCase] | None = None) -> DataManifest:
        """Hashes of the files a run reads: every file of the dataset, or of ``cases``."""
        files = (
            self.dataset.files()
            if cases is None
            else [path for case in cases for path in case.files()]
        )
        return build_manifest(self.dataset.name, self.dataset.root, files)


@dataclass(frozen=True)
class GeneratedData:
    """A project's sample data: how to write it and what its content depends on.

    Attributes:
        prefix: Start of the folder name under ``<data.root>/raw/``, e.g. ``synthetic-ct``.
        key: JSON-serialisable values that determine the content (generator version,
            seed, sizes); the folder name carries their hash, so a change makes a new folder.
        write: Writes the dataset (MSD layout, ``dataset.json`` last) into a new folder.
    """

    prefix: str
    key: Sequence[object]
    write: Callable[[Path], object]

    def folder(self, raw_root: Path) -> Path:
        """``<raw_root>/<prefix>-<hash of key>``."""
        digest = hashlib.sha256(json.dumps(list(self.key)).encode()).hexdigest()
        return raw_root / f"{self.prefix}-{digest[:_DIGEST_CHARS]}"


def load_or_generate(
    binding: ProjectBinding[SettingsT],
    settings: ProjectSettings,
    data: DecathlonDataSettings,
    generated: GeneratedData,
) -> SegmentationData:
    """The configured dataset folder, or the generated sample (written on first use).

    The split is recorded under ``<data.root>/processed/<dataset folder>/split.json``
    (a ``splits_final.json`` in the dataset folder, as nnU-Net writes it, wins).

    Args:
        binding: The project (relative paths start at its folder).
        settings: The project's settings (seed and environment).
        data: The project's data section.
        generated: The sample data used when ``data.dataset_dir`` is not set.

    Raises:
        ConfigError: no ``dataset_dir`` and ``allow_synthetic`` is false (e.g. production).
        medai.data.DatasetError: the dataset folder is incomplete or inconsistent.
        ConfigError: ``data.regions`` disagree with the dataset's (checked here, once).
    """
    data_root = binding.resolve_path(data.root)
    if data.dataset_dir is not None:
        dataset = load_decathlon(binding.resolve_path(data.dataset_dir))
    elif not data.allow_synthetic:
        # Checked here, where data is needed, so a production server needs no dataset.
        raise ConfigError(
            "data.dataset_dir",
            None,
            f"required in the {settings.environment!r} environment (data.allow_synthetic is "
            "false): point it at an MSD / nnU-Net dataset folder",
        )
    else:
        folder = generated.folder(data_root / "raw")
        if not (folder / "dataset.json").is_file():
            generated.write(folder)
        dataset = load_decathlon(folder)
    split = resolve_split(
        dataset.root,
        [case.case_id for case in dataset.cases],
        validation_fraction=data.validation_fraction,
        seed=settings.seed,
        record_to=data_root / "processed" / dataset.root.name / "split.json",
    )
    loaded = SegmentationData(dataset, split, regions_from_settings(data))
    _ = loaded.regions  # a disagreement stops here, before any training
    return loaded
