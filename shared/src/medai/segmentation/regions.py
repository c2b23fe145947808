"""Region-based segmentation: nested label sets predicted one sigmoid channel each.

Tumour sub-structures nest (BraTS: whole tumour {1, 2, 3} holds the tumour core {2, 3},
which holds the enhancing tumour {3}). A network that predicts each region on its own,
as nnU-Net's region training does, is scored on what clinicians measure, the regions,
rather than on the label values. ``Regions`` is that definition, from nnU-Net v2's
``dataset.json`` or the project's ``data.regions``; ``region_masks`` turns a label map
into the training target and ``label_map_from_regions`` the network's probabilities back
into a label map, painting each region's label in ``class_order``, later regions winning.

numpy only: the ONNX server uses it, and must not import torch. The definition travels
with a registered model as the ``medai.regions`` tag (``Regions.to_json``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import numpy as np
from numpy.typing import NDArray

from medai.config import ConfigError

if TYPE_CHECKING:
    from medai.data import DecathlonDataset
    from medai.segmentation.settings import DecathlonDataSettings

REGIONS_TAG: Final = "medai.regions"
"""Model-version tag: the regions a sigmoid model predicts (``Regions.to_json``); absent
for a label-based (softmax) model."""

CHANNELS_TAG: Final = "medai.channels"
"""Model-version tag: the JSON list of the channel names a model takes, in order
(``["CT"]``, ``["T1", "T1c", "T2", "FLAIR"]``); written for every model."""


@dataclass(frozen=True)
class Regions:
    """Nested label sets, one network output channel each.

    Attributes:
        names: Region names in output-channel order (``whole_tumour``, ...).
        labels: The label values each region merges, in the same order.
        class_order: The label each region paints into a label map, in painting order
            (later regions win where they overlap): nnU-Net's ``regions_class_order``.
    """

    names: tuple[str, ...]
    labels: tuple[tuple[int, ...], ...]
    class_order: tuple[int, ...]

    def __post_init__(self) -> None:
        """Refuse a definition that cannot round-trip a label map.

        Raises:
            ValueError: no region, counts that differ, a duplicate name, a region without
                labels or with background (0), or a painted label outside every region.
        """
        if not self.names:
            raise ValueError("regions: expected at least one region, got none")
        if not len(self.names) == len(self.labels) == len(self.class_order):
            raise ValueError(
                f"regions: expected one label set and one class_order entry per region, got "
                f"{len(self.names)} names, {len(self.labels)} label sets and "
                f"{len(self.class_order)} class_order entries"
            )
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"regions: names must be unique, got {list(self.names)}")
        for name, members in zip(self.names, self.labels, strict=True):
            if not members or any(value <= 0 for value in members):
                raise ValueError(
                    f"regions.{name}: expected positive label values (0 is background), "
                    f"got {list(members)}"
                )
        used = sorted({value for members in self.labels for value in members})
        for index, value in enumerate(self.class_order):
            if value not in used:
                raise ValueError(
                    f"region_class_order[{index}]: expected one of the region labels {used}, "
                    f"got {value}"
                )

    @classmethod
    def from_mapping(
        cls, regions: Mapping[str, Sequence[int]], class_order: Sequence[int]
    ) -> Regions:
        """Build from ``{name: labels}`` (in output order) and the painting order."""
        return cls(
            tuple(regions),
            tuple(tuple(int(v) for v in members) for members in regions.values()),
            tuple(int(v) for v in class_order),
        )

    def __len__(self) -> int:
        """The number of regions: the network's output channels."""
        return len(self.names)

    def as_mapping(self) -> dict[str, tuple[int, ...]]:
        """Region name -> its label values, in output-channel order."""
        return dict(zip(self.names, self.labels, strict=True))

    def to_json(self) -> str:
        """The definition as the ``medai.regions`` tag stores it.

        Regions are a list, not an object keyed by name: their order is the network's
        output-channel order, and JSON writers that sort keys (a model folder's card)
        would silently reorder an object.
        """
        return json.dumps(
            {
                "regions": [{"name": n, "labels": list(m)} for n, m in self.as_mapping().items()],
                "class_order": list(self.class_order),
            }
        )

    @classmethod
    def from_json(cls, text: str, where: str) -> Regions:
        """Parse ``to_json``'s text.

        Args:
            text: The tag's value.
            where: What the text came from (a model version), for the message.

        Raises:
            ValueError: one line naming ``where`` and what was expected.
        """
        try:
            raw: Any = json.loads(text)
        except ValueError:
            raw = text
        return regions_from_json(raw, where)


def regions_from_json(raw: Any, where: str) -> Regions:  # noqa: ANN401 - parsed JSON, checked here
    """The regions of a parsed ``medai.regions`` tag (a model card's JSON object).

    Raises:
        ValueError: one line naming ``where`` and the expected shape.
    """
    try:
        regions, order = raw["regions"], raw["class_order"]
        if not isinstance(regions, list) or not isinstance(order, list):
            raise TypeError(type(regions).__name__)  # noqa: TRY301 - one message for all shapes
        names = tuple(str(item["name"]) for item in regions)
        labels = tuple(tuple(int(v) for v in item["labels"]) for item in regions)
        return Regions(names, labels, tuple(int(v) for v in order))
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(
            f"{where}: tag {REGIONS_TAG!r} must be "
            '{"regions": [{"name": ..., "labels": [...]}, ...], "class_order": [labels]} '
            f"(regions in output order), got {str(raw)[:200]!r} ({exc})"
        ) from None


def channels_from_tag(value: str | None, where: str) -> tuple[str, ...]:
    """The channel names of a ``medai.channels`` tag; ``()`` when absent (older: one channel).

    Raises:
        ValueError: the value is not a JSON list of names (naming ``where``).
    """
    if value is None:
        return ()
    try:
        names: Any = json.loads(value)
    except ValueError:
        names = value
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise ValueError(
            f"{where}: tag {CHANNELS_TAG!r} must be a JSON list of channel names, "
            f"got {value[:200]!r}"
        )
    return tuple(names)


def region_masks(label_map: NDArray[Any], regions: Regions) -> NDArray[np.bool_]:
    """``(R, *label_map.shape)`` masks: voxel in region ``r`` when its label is one of its labels.

    Any shape: a MONAI ``(1, X, Y, Z)`` label gives ``(R, 1, X, Y, Z)``; drop its channel
    axis first for the ``(R, X, Y, Z)`` target.
    """
    labels = np.asarray(label_map)
    return np.stack([np.isin(labels, members) for members in regions.labels])


def label_map_from_regions(
    probabilities: NDArray[Any], regions: Regions, threshold: float = 0.5
) -> NDArray[np.uint8]:
    """A label map from per-region probabilities ``(R, ...)``: nnU-Net's region painting.

    Each region above ``threshold`` paints its ``class_order`` label, in order, so for
    BraTS the whole tumour writes 1, the core over it 2 and the enhancing tumour over
    that 3.

    Raises:
        ValueError: the first axis is not one channel per region.
    """
    probs = np.asarray(probabilities)
    if probs.ndim < 1 or probs.shape[0] != len(regions):
        raise ValueError(
            f"expected {len(regions)} region channels ({', '.join(regions.names)}) on axis 0, "
            f"got shape {probs.shape}"
        )
    out = np.zeros(probs.shape[1:], dtype=np.uint8)
    for channel, value in zip(probs, regions.class_order, strict=True):
        out[channel > threshold] = value
    return out


def regions_from_dataset(dataset: DecathlonDataset) -> Regions | None:
    """The regions an nnU-Net v2 ``dataset.json`` defines; None for plain labels."""
    if not dataset.regions:
        return None
    return Regions.from_mapping(dataset.regions, dataset.region_class_order)


def regions_from_settings(data: DecathlonDataSettings) -> Regions | None:
    """The regions of the project's ``data.regions`` / ``data.region_class_order``; None if unset.

    Raises:
        ConfigError: the two keys do not make a valid definition (naming the key).
    """
    if data.regions is None:
        return None
    try:
        return Regions.from_mapping(data.regions, data.region_class_order or [])
    except ValueError as exc:
        raise ConfigError("data.regions", None, str(exc)) from None


def resolve_regions(configured: Regions | None, dataset: DecathlonDataset) -> Regions | None:
    """The regions a model of ``dataset`` predicts: the config's, else ``dataset.json``'s.

    Raises:
        ConfigError: both define regions and they differ (naming both), or the config's
            regions use a label the dataset does not declare.
    """
    from_dataset = regions_from_dataset(dataset)
    if configured is None:
        return from_dataset
    if from_dataset is not None and from_dataset != configured:
        raise ConfigError(
            "data.regions",
            None,
            f"{configured.to_json()} differs from the regions of "
            f"{dataset.root.name}/dataset.json {from_dataset.to_json()}; "
            "remove data.regions or make them agree",
        )
    declared = sorted(value for value in dataset.labels if value)
    for name, members in configured.as_mapping().items():
        unknown = sorted(set(members) - set(declared))
        if unknown:
            raise ConfigError(
                f"data.regions.{name}",
                None,
                f"labels {unknown} are not declared in dataset.json (declared: {declared})",
            )
    return configured
