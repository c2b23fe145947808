"""Read a dataset in the Medical Segmentation Decathlon or nnU-Net v2 raw layout.

Both layouts are a folder with ``dataset.json``, ``imagesTr/`` and ``labelsTr/``; a real
dataset plugs in by pointing the config at that folder. MSD lists its cases in
``dataset.json["training"]`` and stores a multi-channel case as one 4D NIfTI (channels
last), its channels named by ``modality``; nnU-Net v2 names them in ``channel_names`` and
stores channel ``k`` of a case as ``imagesTr/<case>_000k<file_ending>``.

Labels are plain (``"liver": 1``, or MSD's ``"1": "liver"``) or, in nnU-Net v2,
region-based: a region lists the label values it merges (``"whole_tumor": [1, 2, 3]``), a
network predicts each region on its own (sigmoid) and ``regions_class_order`` says which
label value each region writes back into a label map. Only file names and dataset.json are
read here; the voxels (and a 4D file's channel count) are checked when a case is loaded
(``medai.io.channels``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

NIFTI_SUFFIXES = (".nii.gz", ".nii")
_NNUNET_CHANNEL_DIGITS = 4
_DEFAULT_CHANNELS = {"0": "unknown"}


class DatasetError(ValueError):
    """A dataset folder that cannot be used; ``str()`` names the file and the problem."""

    def __init__(self, path: Path, problem: str) -> None:
        """Keep the parts for callers that want them; the message stays on one line.

        Paths and keys built from dataset.json text may hold a newline or other control
        characters; the message shows each of them escaped, as Python writes it.
        """
        self.path = path
        self.problem = _one_line(problem)
        super().__init__(f"{_one_line(str(path))}: {self.problem}")


def _one_line(text: str) -> str:
    """``text`` with each unprintable character escaped as Python writes it in a string."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


@dataclass(frozen=True)
class LabelledCase:
    """One training case: its image file(s) and its label map.

    Attributes:
        case_id: The case's id (file name without suffix, or nnU-Net's case identifier).
        images: One file (3D, or 4D with the channels last), or one 3D file per channel
            in channel order.
        label: The label map, on the image's grid.
    """

    case_id: str
    images: tuple[Path, ...]
    label: Path

    @property
    def image(self) -> Path:
        """The case's only image file, for single-file (e.g. single-channel) callers.

        Raises:
            ValueError: The case has one file per channel; read ``images`` instead.
        """
        if len(self.images) != 1:
            raise ValueError(
                f"case {self.case_id!r} has {len(self.images)} image files (one per "
                "channel); read LabelledCase.images"
            )
        return self.images[0]

    def files(self) -> tuple[Path, ...]:
        """Every file of the case: its images, then its label map."""
        return (*self.images, self.label)


@dataclass(frozen=True)
class DecathlonDataset:
    """A parsed dataset folder.

    Attributes:
        root: The dataset folder.
        name: ``dataset.json["name"]``, else the folder name.
        channels: Image channel names in channel order (``("CT",)``, ``("FLAIR", "T1w",
            "t1gd", "T2w")``).
        labels: Label value -> name of the values the label maps use, background (0)
            included. For a region dataset, a value is named after the region that
            ``regions_class_order`` writes it for (``label <value>`` when none does).
        cases: The training cases.
        regions: Region name -> the label values it merges, in ``dataset.json`` order;
            empty for a plain label dataset.
        region_class_order: For a region dataset, the label value each region writes into
            a label map (in ``regions`` order); empty otherwise.
    """

    root: Path
    name: str
    channels: tuple[str, ...]
    labels: dict[int, str]
    cases: tuple[LabelledCase, ...]
    regions: dict[str, tuple[int, ...]] = field(default_factory=dict)
    region_class_order: tuple[int, ...] = ()

    @property
    def modality(self) -> str:
        """What the images are: the channel name (``CT``), or the names joined by ``+``."""
        return "+".join(self.channels)

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
        return [self.root / "dataset.json"] + [p for c in self.cases for p in c.files()]


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
    except RecursionError as exc:  # json gives up on deeply nested arrays this way
        raise DatasetError(meta_path, "not valid JSON (nested too deeply)") from exc
    if not isinstance(meta, dict):
        raise DatasetError(meta_path, "must hold a JSON object")
    labels, regions, class_order = _labels(meta, meta_path)
    channels = _channels(meta, meta_path)
    if "training" in meta:
        cases = _msd_cases(meta["training"], root, meta_path)
    else:
        cases = _nnunet_cases(meta, channels, root, meta_path)
    if len(cases) == 0:
        raise DatasetError(meta_path, "lists no training cases")
    ids = [c.case_id for c in cases]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise DatasetError(meta_path, f"case id {duplicates[0]!r} appears more than once")
    name = str(meta.get("name") or root.name)
    return DecathlonDataset(
        root=root,
        name=name,
        channels=channels,
        labels=labels,
        cases=cases,
        regions=regions,
        region_class_order=class_order,
    )


def _label_value(value: object) -> int | None:
    """An integer label value as JSON gives it (true and false are not labels), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _is_region(value: object) -> bool:
    """nnU-Net's rule: a list of more than one label is a region (``[3]`` is label 3)."""
    return isinstance(value, list) and len(value) > 1


def _labels(
    meta: dict[str, Any], meta_path: Path
) -> tuple[dict[int, str], dict[str, tuple[int, ...]], tuple[int, ...]]:
    """Labels, regions and region class order; the last two are empty for plain labels."""
    raw = meta.get("labels")
    if not isinstance(raw, dict) or not raw:
        raise DatasetError(meta_path, "key 'labels' must be a non-empty object")
    if any(_is_region(value) for value in raw.values()):
        return _region_labels(raw, meta.get("regions_class_order"), meta_path)
    labels: dict[int, str] = {}
    for key, value in raw.items():
        if isinstance(value, list):  # a one-label list is that label, as nnU-Net reads it
            members = _members(key, value, meta_path)
            labels[members[0]] = key
            continue
        # MSD maps "1" -> "liver"; nnU-Net v2 maps "liver" -> 1.
        integer = _label_value(value)
        number, name = (integer, key) if integer is not None else (key, value)
        if not isinstance(name, str):
            raise DatasetError(
                meta_path, f"labels.{key}: expected a label name or an integer, got {value!r}"
            )
        try:
            labels[int(number)] = name
        except (TypeError, ValueError) as exc:
            raise DatasetError(
                meta_path, f"labels.{key}: expected an integer label, got {number!r}"
            ) from exc
    if 0 not in labels:
        raise DatasetError(meta_path, "key 'labels' must define background as 0")
    return dict(sorted(labels.items())), {}, ()


def _members(key: str, value: object, meta_path: Path) -> tuple[int, ...]:
    """A region's label values: non-negative integers, each listed once."""
    items = value if isinstance(value, list) else [value]
    if not items:
        raise DatasetError(meta_path, f"labels.{key}: expected a label or a list of labels, got []")
    members: list[int] = []
    for item in items:
        number = _label_value(item)
        if number is None or number < 0:
            raise DatasetError(
                meta_path, f"labels.{key}: expected non-negative integer labels, got {item!r}"
            )
        if number in members:
            raise DatasetError(meta_path, f"labels.{key}: lists label {number} twice")
        members.append(number)
    return tuple(members)


def _region_labels(
    raw: dict[str, Any], order: object, meta_path: Path
) -> tuple[dict[int, str], dict[str, tuple[int, ...]], tuple[int, ...]]:
    """nnU-Net v2 region-based labels: ``{"background": 0, "whole_tumor": [1, 2, 3], ...}``."""
    background: str | None = None
    regions: dict[str, tuple[int, ...]] = {}
    for key, value in raw.items():
        members = _members(key, value, meta_path)
        if members == (0,):
            background = key
        else:
            regions[key] = members
    if background is None:
        raise DatasetError(meta_path, "key 'labels' must define background as 0")
    names = ", ".join(regions)
    if not isinstance(order, list) or len(order) != len(regions):
        got = f"a list of {len(order)}" if isinstance(order, list) else repr(order)
        raise DatasetError(
            meta_path,
            f"key 'regions_class_order' must list one label per region ({len(regions)}: "
            f"{names}), got {got}",
        )
    used = sorted({label for members in regions.values() for label in members} - {0})
    class_order: list[int] = []
    for index, item in enumerate(order):
        number = _label_value(item)
        if number is None or number not in used:
            raise DatasetError(
                meta_path,
                f"regions_class_order[{index}]: expected one of the region labels {used}, "
                f"got {item!r}",
            )
        class_order.append(number)
    written = dict(zip(class_order, regions, strict=True))
    labels = {0: background} | {label: written.get(label, f"label {label}") for label in used}
    return labels, regions, tuple(class_order)


def _channels(meta: dict[str, Any], meta_path: Path) -> tuple[str, ...]:
    """Channel names in channel order, from MSD's ``modality`` or nnU-Net's ``channel_names``."""
    key = "modality" if "modality" in meta else "channel_names"
    channels = meta.get(key, _DEFAULT_CHANNELS)
    if not isinstance(channels, dict) or not channels:
        raise DatasetError(
            meta_path, "key 'modality' (or 'channel_names') must be a non-empty object"
        )
    expected = [str(index) for index in range(len(channels))]
    if sorted(channels, key=lambda k: (len(k), k)) != expected:
        shown = ", ".join(repr(k) for k in list(channels)[:10])
        raise DatasetError(
            meta_path,
            f"key {key!r} must number its channels '0'..'{len(channels) - 1}', got keys {shown}",
        )
    names = []
    for index in expected:
        name = channels[index]
        if not isinstance(name, str) or not name.strip():
            raise DatasetError(meta_path, f"{key}.{index}: expected a channel name, got {name!r}")
        names.append(name)
    return tuple(names)


def _existing(root: Path, relative: object, meta_path: Path, where: str) -> Path:
    if not isinstance(relative, str) or not relative:
        raise DatasetError(meta_path, f"{where}: expected a relative file path, got {relative!r}")
    try:
        path = (root / relative).resolve()
        inside = path.is_relative_to(root)
        exists = inside and path.is_file()
    except (OSError, ValueError) as exc:  # a NUL byte, a name too long for the filesystem
        raise DatasetError(meta_path, f"{where}: path {relative!r} is not usable ({exc})") from exc
    if not inside:
        raise DatasetError(
            meta_path, f"{where}: path {relative!r} points outside the dataset folder"
        )
    if not exists:
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
        cases.append(LabelledCase(case_id_of(image), (image,), label))
    return tuple(cases)


def _nnunet_cases(
    meta: dict[str, Any], channels: tuple[str, ...], root: Path, meta_path: Path
) -> tuple[LabelledCase, ...]:
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
        images = tuple(
            _nnunet_image(root, case_id, channels, index, ending) for index in range(len(channels))
        )
        extra = _nnunet_image_path(root, case_id, len(channels), ending)
        if _is_file(extra):
            raise DatasetError(
                extra,
                f"case {case_id!r} has a channel file beyond the {len(channels)} channel(s) "
                "dataset.json declares",
            )
        cases.append(LabelledCase(case_id, images, label.resolve()))
    return tuple(cases)


def _is_file(path: Path) -> bool:
    """``path.is_file()``, False for a name the filesystem cannot hold (too long)."""
    try:
        return path.is_file()
    except OSError:
        return False


def _nnunet_image_path(root: Path, case_id: str, index: int, ending: str) -> Path:
    return root / "imagesTr" / f"{case_id}_{index:0{_NNUNET_CHANNEL_DIGITS}d}{ending}"


def _nnunet_image(
    root: Path, case_id: str, channels: tuple[str, ...], index: int, ending: str
) -> Path:
    """``imagesTr/<case>_000<index><ending>``, which must exist."""
    image = _nnunet_image_path(root, case_id, index, ending)
    if not _is_file(image):
        what = "the image" if len(channels) == 1 else f"channel {index} ({channels[index]})"
        raise DatasetError(image, f"missing: {what} of case {case_id!r} in labelsTr/")
    return image.resolve()
