"""Read a dataset in the Medical Segmentation Decathlon or nnU-Net v2 raw layout.

Both layouts are a folder with ``dataset.json``, ``imagesTr/`` and ``labelsTr/``; a real
dataset plugs in by pointing the config at that folder. MSD lists its cases in
``dataset.json["training"]``; nnU-Net v2 names images ``<case>_0000<file_ending>``.
Only single-channel images are supported, which covers CT.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NIFTI_SUFFIXES = (".nii.gz", ".nii")


class DatasetError(ValueError):
    """A dataset folder that cannot be used; ``str()`` names the file and the problem."""

    def __init__(self, path: Path, problem: str) -> None:
        """Keep the parts for callers that want them."""
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}")


@dataclass(frozen=True)
class LabelledCase:
    """One training case: an image and its label map."""

    case_id: str
    image: Path
    label: Path


@dataclass(frozen=True)
class DecathlonDataset:
    """A parsed dataset folder."""

    root: Path
    name: str
    modality: str
    labels: dict[int, str]
    cases: tuple[LabelledCase, ...]

    @property
    def foreground_labels(self) -> dict[int, str]:
        """Every label but background (0)."""
        return {k: v for k, v in self.labels.items() if k != 0}

    def case(self, case_id: str) -> LabelledCase:
        """Look up a case by id.

        Raises:
            KeyError: no such case.
        """
        for case in self.cases:
            if case.case_id == case_id:
                return case
        raise KeyError(case_id)

    def files(self) -> list[Path]:
        """Every file the dataset's cases use, for the data manifest."""
        return [self.root / "dataset.json"] + [p for c in self.cases for p in (c.image, c.label)]


def case_id_of(path: Path) -> str:
    """A case id from a NIfTI file name (``liver_3.nii.gz`` -> ``liver_3``)."""
    name = path.name
    for suffix in NIFTI_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def load_decathlon(root: Path) -> DecathlonDataset:
    """Parse and check a dataset folder; every referenced file must exist.

    Raises:
        DatasetError: naming ``dataset.json`` (and the key) or the missing file.
    """
    root = root.expanduser().resolve()
    meta_path = root / "dataset.json"
    if not root.is_dir():
        raise DatasetError(root, "dataset folder does not exist")
    if not meta_path.is_file():
        raise DatasetError(meta_path, "missing; expected the MSD / nnU-Net dataset.json here")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(meta_path, f"not valid JSON ({exc})") from exc
    if not isinstance(meta, dict):
        raise DatasetError(meta_path, "must hold a JSON object")
    labels = _labels(meta, meta_path)
    modality = _modality(meta, meta_path)
    if "training" in meta:
        cases = _msd_cases(meta["training"], root, meta_path)
    else:
        cases = _nnunet_cases(meta, root, meta_path)
    if len(cases) == 0:
        raise DatasetError(meta_path, "lists no training cases")
    ids = [c.case_id for c in cases]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise DatasetError(meta_path, f"case id {duplicates[0]!r} appears more than once")
    name = str(meta.get("name") or root.name)
    return DecathlonDataset(root=root, name=name, modality=modality, labels=labels, cases=cases)


def _labels(meta: dict[str, Any], meta_path: Path) -> dict[int, str]:
    raw = meta.get("labels")
    if not isinstance(raw, dict) or not raw:
        raise DatasetError(meta_path, "key 'labels' must be a non-empty object")
    labels: dict[int, str] = {}
    for key, value in raw.items():
        # MSD maps "1" -> "liver"; nnU-Net v2 maps "liver" -> 1.
        if isinstance(value, list):  # nnU-Net v2 regions: "liver": [1, 2]
            raise DatasetError(meta_path, f"labels.{key}: region-based labels are not supported")
        number, name = (value, key) if isinstance(value, int) else (key, value)
        try:
            labels[int(number)] = str(name)
        except (TypeError, ValueError) as exc:
            raise DatasetError(
                meta_path, f"labels.{key}: expected an integer label, got {number!r}"
            ) from exc
    if 0 not in labels:
        raise DatasetError(meta_path, "key 'labels' must define background as 0")
    return dict(sorted(labels.items()))


def _modality(meta: dict[str, Any], meta_path: Path) -> str:
    channels = meta.get("modality", meta.get("channel_names", {"0": "unknown"}))
    if not isinstance(channels, dict) or not channels:
        raise DatasetError(
            meta_path, "key 'modality' (or 'channel_names') must be a non-empty object"
        )
    if len(channels) != 1:
        raise DatasetError(
            meta_path,
            f"has {len(channels)} image channels; this loader supports single-channel images",
        )
    return str(next(iter(channels.values())))


def _existing(root: Path, relative: object, meta_path: Path, where: str) -> Path:
    if not isinstance(relative, str) or not relative:
        raise DatasetError(meta_path, f"{where}: expected a relative file path, got {relative!r}")
    path = (root / relative).resolve()
    if not path.is_relative_to(root):
        raise DatasetError(
            meta_path, f"{where}: path {relative!r} points outside the dataset folder"
        )
    if not path.is_file():
        raise DatasetError(path, f"listed in dataset.json ({where}) but does not exist")
    return path


def _msd_cases(training: object, root: Path, meta_path: Path) -> tuple[LabelledCase, ...]:
    if not isinstance(training, list):
        raise DatasetError(meta_path, "key 'training' must be a list of {image, label} objects")
    cases = []
    for index, item in enumerate(training):
        where = f"training[{index}]"
        if not isinstance(item, dict) or "image" not in item or "label" not in item:
            raise DatasetError(meta_path, f"{where}: expected an object with 'image' and 'label'")
        image = _existing(root, item["image"], meta_path, f"{where}.image")
        label = _existing(root, item["label"], meta_path, f"{where}.label")
        cases.append(LabelledCase(case_id_of(image), image, label))
    return tuple(cases)


def _nnunet_cases(meta: dict[str, Any], root: Path, meta_path: Path) -> tuple[LabelledCase, ...]:
    ending = meta.get("file_ending", ".nii.gz")
    if ending not in NIFTI_SUFFIXES:
        raise DatasetError(
            meta_path, f"file_ending {ending!r} is not supported; expected .nii.gz or .nii"
        )
    labels_dir = root / "labelsTr"
    if not labels_dir.is_dir():
        raise DatasetError(
            labels_dir, "missing; nnU-Net layout needs labelsTr/ (or list cases under 'training')"
        )
    cases = []
    for label in sorted(labels_dir.glob(f"*{ending}")):
        if label.name.startswith("."):
            continue
        case_id = label.name[: -len(ending)]
        image = root / "imagesTr" / f"{case_id}_0000{ending}"
        if not image.is_file():
            raise DatasetError(image, f"missing: the image of case {case_id!r} in labelsTr/")
        cases.append(LabelledCase(case_id, image.resolve(), label.resolve()))
    return tuple(cases)
