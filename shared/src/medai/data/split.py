"""Case-level train/validation splits that are fixed by a seed and written down.

Splitting by case (not by patch or slice) keeps every voxel of a patient on one side. Where
one patient has several items (chest X-rays: many studies and views per patient), the split
is made over patients instead, so that no patient is seen in training and again in validation.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from medai.data.decathlon import DatasetError


@dataclass(frozen=True)
class Split:
    """Which cases train and which validate, and how that was decided."""

    train: tuple[str, ...]
    validation: tuple[str, ...]
    seed: int
    validation_fraction: float
    source: str = "computed"

    def to_json(self) -> str:
        """The split as JSON, for the file on disk and the MLflow artifact."""
        data = asdict(self)
        data["train"] = list(self.train)
        data["validation"] = list(self.validation)
        return json.dumps(data, indent=2) + "\n"


def make_split(case_ids: Sequence[str], validation_fraction: float, seed: int) -> Split:
    """Split case ids deterministically: same ids, fraction and seed give the same split.

    Raises:
        ValueError: fewer than two cases, or a fraction outside (0, 1).
    """
    if not 0.0 < validation_fraction < 1.0:
        raise ValueError(f"validation_fraction must be between 0 and 1, got {validation_fraction}")
    ids = sorted(set(case_ids))
    if len(ids) < 2:  # noqa: PLR2004 - one case for each side at least
        raise ValueError(f"need at least 2 cases to split, got {len(ids)}")
    n_validation = min(len(ids) - 1, max(1, round(len(ids) * validation_fraction)))
    order = np.random.default_rng(seed).permutation(len(ids))
    validation = sorted(ids[i] for i in order[:n_validation])
    train = sorted(ids[i] for i in order[n_validation:])
    return Split(tuple(train), tuple(validation), seed, validation_fraction)


def make_group_split(
    item_ids: Sequence[str],
    groups: Mapping[str, str],
    validation_fraction: float,
    seed: int,
) -> Split:
    """Split items so that all items of one group (patient) fall on the same side.

    The patients are split, seeded like make_split: ``validation_fraction`` is the fraction of
    patients (so of items only on average) sent to validation, at least one patient per side.

    Args:
        item_ids: The items to split (e.g. image paths); duplicates count once.
        groups: The group (patient id) of every item.
        validation_fraction: Fraction of groups for validation, in (0, 1).
        seed: Same ids, groups, fraction and seed give the same split.

    Returns:
        The split of item ids, each side sorted.

    Raises:
        ValueError: An item without a group, fewer than two groups, or a fraction outside (0, 1).
    """
    if not 0.0 < validation_fraction < 1.0:
        raise ValueError(f"validation_fraction must be between 0 and 1, got {validation_fraction}")
    ids = sorted(set(item_ids))
    ungrouped = [item for item in ids if item not in groups]
    if ungrouped:
        raise ValueError(f"item {ungrouped[0]!r} has no group")
    names = sorted({groups[item] for item in ids})
    if len(names) < 2:  # noqa: PLR2004 - one group for each side at least
        raise ValueError(f"need at least 2 groups to split, got {len(names)}")
    n_validation = min(len(names) - 1, max(1, round(len(names) * validation_fraction)))
    order = np.random.default_rng(seed).permutation(len(names))
    held_out = {names[i] for i in order[:n_validation]}
    validation = tuple(item for item in ids if groups[item] in held_out)
    train = tuple(item for item in ids if groups[item] not in held_out)
    return Split(train, validation, seed, validation_fraction)


def check_no_group_leak(split: Split, groups: Mapping[str, str]) -> None:
    """Make sure no group (patient) has items on both sides of a split.

    A patient on both sides lets a model recognise the patient instead of the finding and
    inflates validation metrics. Check any split that did not come from make_group_split
    (a user's split file, an official dataset split).

    Args:
        split: The split to check.
        groups: The group (patient id) of every item in the split.

    Raises:
        DatasetError: Naming the split's source and the first (sorted) group on both sides,
            or the first item without a group. Patient ids of training datasets are the
            dataset's pseudonyms (patient00001), never a hospital's record numbers.
    """
    source = Path(split.source)
    sides: list[set[str]] = []
    for items in (split.train, split.validation):
        ungrouped = sorted(item for item in items if item not in groups)
        if ungrouped:
            raise DatasetError(source, f"item {ungrouped[0]!r} has no patient/group")
        sides.append({groups[item] for item in items})
    leaked = sorted(sides[0] & sides[1])
    if leaked:
        raise DatasetError(
            source,
            f"patient/group {leaked[0]!r} has items in both train and validation "
            f"({len(leaked)} such groups); split by patient",
        )


def nnunet_split(path: Path, case_ids: Sequence[str], fold: int) -> Split:
    """Read fold ``fold`` of an nnU-Net ``splits_final.json`` that a user supplied.

    Raises:
        DatasetError: the file is malformed or names cases the dataset does not have.
    """
    try:
        folds = json.loads(path.read_text(encoding="utf-8"))
        entry = folds[fold]
        train, validation = tuple(sorted(entry["train"])), tuple(sorted(entry["val"]))
    except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:
        raise DatasetError(
            path, f"cannot read fold {fold} with 'train' and 'val' lists ({exc})"
        ) from exc
    unknown = sorted(set(train + validation) - set(case_ids))
    if unknown:
        raise DatasetError(path, f"names case {unknown[0]!r} which the dataset does not have")
    overlap = sorted(set(train) & set(validation))
    if overlap:
        raise DatasetError(path, f"case {overlap[0]!r} is in both train and val of fold {fold}")
    return Split(
        train,
        validation,
        seed=-1,
        validation_fraction=len(validation) / len(case_ids),
        source=str(path),
    )


def resolve_split(
    dataset_root: Path,
    case_ids: Sequence[str],
    *,
    validation_fraction: float,
    seed: int,
    record_to: Path,
    fold: int = 0,
) -> Split:
    """Use the dataset's own ``splits_final.json`` if it has one, else compute a seeded split.

    The split actually used is always written to ``record_to`` so that a person can see
    it next to the processed data (and training logs the same file to MLflow).
    """
    user_split = dataset_root / "splits_final.json"
    if user_split.is_file():
        split = nnunet_split(user_split, case_ids, fold)
    else:
        split = make_split(case_ids, validation_fraction, seed)
    record_to.parent.mkdir(parents=True, exist_ok=True)
    # Atomically: the ranks of one training write the same split at the same time.
    partial = record_to.with_name(f".{record_to.name}.{uuid.uuid4().hex}.partial")
    partial.write_text(split.to_json(), encoding="utf-8")
    partial.replace(record_to)
    return split
