"""Region definitions: masks from label maps, label maps from probabilities, config vs dataset."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from medai.config import ConfigError
from medai.data import DecathlonDataset
from medai.segmentation.regions import (
    Regions,
    channels_from_tag,
    label_map_from_regions,
    region_masks,
    regions_from_dataset,
    regions_from_json,
    regions_from_settings,
    resolve_regions,
)
from medai.segmentation.settings import DecathlonDataSettings

BRATS = Regions(
    ("whole_tumour", "tumour_core", "enhancing_tumour"), ((1, 2, 3), (2, 3), (3,)), (1, 2, 3)
)
LABELS = {0: "background", 1: "oedema", 2: "necrosis", 3: "enhancing"}


def dataset(
    regions: dict[str, tuple[int, ...]] | None = None, order: tuple[int, ...] = ()
) -> DecathlonDataset:
    return DecathlonDataset(
        root=Path("/nowhere/Task01_BrainTumour"),
        name="brain",
        channels=("T1", "T1c", "T2", "FLAIR"),
        labels=LABELS,
        cases=(),
        regions=regions or {},
        region_class_order=order,
    )


def test_region_masks_are_the_nested_label_sets():
    labels = np.array([[[0, 1, 2, 3]]], dtype=np.uint8)
    masks = region_masks(labels, BRATS)
    assert masks.shape == (3, 1, 1, 4)
    assert masks[:, 0, 0].tolist() == [
        [False, True, True, True],
        [False, False, True, True],
        [False, False, False, True],
    ]


def test_masks_keep_every_axis_of_the_label_map():
    labels = np.random.default_rng(0).integers(0, 4, size=(1, 5, 6, 7))
    assert region_masks(labels, BRATS).shape == (3, 1, 5, 6, 7)


def test_painting_region_masks_gives_back_the_label_map():
    labels = np.random.default_rng(1).integers(0, 4, size=(6, 6, 6)).astype(np.uint8)
    probabilities = region_masks(labels, BRATS).astype(np.float32)
    assert np.array_equal(label_map_from_regions(probabilities, BRATS), labels)


def test_later_regions_win_and_the_threshold_is_strict():
    probabilities = np.array([[0.9, 0.9, 0.5], [0.2, 0.8, 0.9], [0.6, 0.1, 0.9]])
    # voxel 0: WT and ET above 0.5 -> ET paints last; voxel 2: WT at exactly 0.5 is out.
    assert label_map_from_regions(probabilities, BRATS).tolist() == [3, 2, 3]


def test_probabilities_without_one_channel_per_region_are_refused():
    with pytest.raises(ValueError, match=r"expected 3 region channels .* got shape \(2, 4\)"):
        label_map_from_regions(np.zeros((2, 4)), BRATS)


@pytest.mark.parametrize(
    ("names", "labels", "order", "message"),
    [
        ((), (), (), "at least one region"),
        (("a", "b"), ((1,), (2,)), (1,), "2 names, 2 label sets and 1 class_order"),
        (("a", "a"), ((1,), (2,)), (1, 2), "names must be unique"),
        (("a",), ((0, 1),), (1,), r"regions.a: expected positive label values"),
        (("a",), ((1, 2),), (3,), r"region_class_order\[0\]: expected one of .* got 3"),
    ],
)
def test_an_unusable_definition_is_refused(names, labels, order, message):
    with pytest.raises(ValueError, match=message):
        Regions(names, labels, order)


def test_the_model_card_tag_round_trips():
    assert Regions.from_json(BRATS.to_json(), "model 'm' v1") == BRATS


def test_the_tag_keeps_the_output_order_when_keys_are_sorted():
    resorted = json.dumps(json.loads(BRATS.to_json()), sort_keys=True)
    assert Regions.from_json(resorted, "card").names == BRATS.names


@pytest.mark.parametrize(
    "text",
    [
        "",
        "[]",
        '{"regions": [], "class_order": []}',
        '{"a": 1}',
        # An object keyed by name is refused: a key-sorting writer may have reordered it.
        '{"regions": {"wt": [1]}, "class_order": [1]}',
    ],
)
def test_a_broken_tag_names_the_model_version(text):
    with pytest.raises(ValueError, match=r"^model 'm' v1: tag 'medai.regions' must be"):
        Regions.from_json(text, "model 'm' v1")


def test_the_dataset_regions_are_used_when_the_config_has_none():
    ds = dataset(dict(zip(BRATS.names, BRATS.labels, strict=True)), BRATS.class_order)
    assert regions_from_dataset(ds) == BRATS
    assert resolve_regions(None, ds) == BRATS


def test_plain_labels_without_configured_regions_train_label_based():
    assert resolve_regions(None, dataset()) is None


def test_configured_regions_apply_to_a_plain_label_dataset():
    data = DecathlonDataSettings(
        regions={"whole_tumour": [1, 2, 3], "tumour_core": [2, 3], "enhancing_tumour": [3]},
        region_class_order=[1, 2, 3],
    )
    assert resolve_regions(regions_from_settings(data), dataset()) == BRATS


def test_config_and_dataset_regions_that_differ_are_refused_naming_both():
    ds = dataset({"whole_tumour": (1, 2, 3), "enhancing_tumour": (3,)}, (1, 3))
    with pytest.raises(
        ConfigError,
        match=r"^data.regions: .*tumour_core.* differs from the "
        r"regions of Task01_BrainTumour/dataset.json .*enhancing_tumour",
    ):
        resolve_regions(BRATS, ds)


def test_configured_regions_with_undeclared_labels_are_refused():
    wide = Regions(("wt",), ((1, 2, 3, 4),), (1,))
    with pytest.raises(ConfigError, match=r"data.regions.wt: labels \[4\] are not declared"):
        resolve_regions(wide, dataset())


def test_regions_need_their_painting_order_in_the_config():
    with pytest.raises(ValidationError, match="set together"):
        DecathlonDataSettings(regions={"wt": [1, 2, 3]})
    with pytest.raises(ValidationError, match=r"region_class_order\[0\]"):
        DecathlonDataSettings(regions={"wt": [1, 2]}, region_class_order=[3])


def test_a_model_cards_parsed_object_gives_the_regions():
    assert regions_from_json(json.loads(BRATS.to_json()), "card") == BRATS


@pytest.mark.parametrize(
    ("value", "expected"), [(None, ()), ('["T1", "FLAIR"]', ("T1", "FLAIR")), ('["CT"]', ("CT",))]
)
def test_the_channels_tag_lists_the_names_in_order(value, expected):
    assert channels_from_tag(value, "v1") == expected


@pytest.mark.parametrize("value", ["[]", "T1", "[1, 2]", '{"a": "T1"}'])
def test_a_broken_channels_tag_names_the_version(value):
    with pytest.raises(ValueError, match=r"^v1: tag 'medai.channels' must be a JSON list"):
        channels_from_tag(value, "v1")
