"""Whatever dataset.json holds, loading gives a usable dataset or one DatasetError line."""

import json

import nibabel as nib
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from medai.data import DatasetError, DecathlonDataset, load_decathlon

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-3, 5)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=6)
)
JSON = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=8,
)
LABEL_KEYS = st.sampled_from(["background", "0", "1", "2", "3", "wt", "tc", "et"]) | st.text(
    max_size=3
)
LABEL_VALUES = (
    st.integers(-1, 4)
    | st.lists(st.integers(-1, 4), max_size=4)
    | st.sampled_from(["background", "liver", "1"])
    | JSON
)
CHANNEL_KEYS = st.sampled_from(["0", "1", "2", "3"]) | st.text(max_size=2)
CHANNEL_VALUES = st.sampled_from(["CT", "T1", "T2", "FLAIR"]) | JSON
PATHS = (
    st.sampled_from(
        [
            "./imagesTr/a.nii.gz",
            "./labelsTr/a.nii.gz",
            "imagesTr/b.nii.gz",
            "../outside.nii.gz",
            "/etc/hostname",
        ]
    )
    | st.text(max_size=300)
    | JSON
)
TRAINING_ITEMS = st.fixed_dictionaries({"image": PATHS, "label": PATHS}) | JSON
# Valid values as often as random ones, so that examples get past the first key.
VALID_LABELS = st.sampled_from(
    [
        {"0": "background", "1": "liver"},
        {"background": 0, "liver": 1},
        {"background": 0, "wt": [1, 2, 3], "tc": [2, 3], "et": 3},
    ]
)
VALID_CHANNELS = st.sampled_from([{"0": "CT"}, {"0": "T1", "1": "T2"}])
VALID_TRAINING = st.just([{"image": "./imagesTr/a.nii.gz", "label": "./labelsTr/a.nii.gz"}])
META = st.fixed_dictionaries(
    {"labels": VALID_LABELS | st.dictionaries(LABEL_KEYS, LABEL_VALUES, max_size=5) | JSON},
    optional={
        "channel_names": VALID_CHANNELS
        | st.dictionaries(CHANNEL_KEYS, CHANNEL_VALUES, max_size=4)
        | JSON,
        "modality": VALID_CHANNELS | st.dictionaries(CHANNEL_KEYS, CHANNEL_VALUES, max_size=4),
        "regions_class_order": st.just([1, 2, 3])
        | st.lists(st.integers(-1, 4) | JSON, max_size=4)
        | JSON,
        "training": VALID_TRAINING | st.lists(TRAINING_ITEMS, max_size=3) | JSON,
        "file_ending": st.sampled_from([".nii.gz", ".nii", ".mha"]) | JSON,
        "name": JSON,
    },
)


@pytest.fixture(scope="module")
def dataset_root(tmp_path_factory):
    """Files for both layouts: MSD's a/b, nnU-Net's case a with two channel files."""
    root = tmp_path_factory.mktemp("ds")
    files = [
        "imagesTr/a.nii.gz",
        "imagesTr/b.nii.gz",
        "labelsTr/a.nii.gz",
        "imagesTr/a_0000.nii.gz",
        "imagesTr/a_0001.nii.gz",
    ]
    for name in files:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        nib.save(nib.Nifti1Image(np.zeros((2, 2, 2), np.int16), np.eye(4)), root / name)
    (tmp_path_factory.getbasetemp() / "outside.nii.gz").write_bytes(b"")
    return root


def _load(root) -> DecathlonDataset | DatasetError:
    """The dataset, or the DatasetError; any other exception fails the test."""
    try:
        return load_decathlon(root)
    except DatasetError as exc:
        return exc


def _check_usable(dataset: DecathlonDataset) -> None:
    """What every consumer relies on once loading succeeded."""
    assert dataset.labels[0]
    assert dataset.channels
    assert all(isinstance(name, str) and name for name in dataset.channels)
    assert dataset.cases
    for case in dataset.cases:
        assert len(case.images) in {1, len(dataset.channels)}
        assert all(path.is_file() and path.is_relative_to(dataset.root) for path in case.files())
    assert len(dataset.region_class_order) == len(dataset.regions)
    for members in dataset.regions.values():
        assert members
        assert all(label in dataset.labels for label in members)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(meta=META | JSON)
def test_any_dataset_json_loads_or_is_one_dataset_error(dataset_root, meta):
    (dataset_root / "dataset.json").write_text(json.dumps(meta), encoding="utf-8")

    result = _load(dataset_root)

    if isinstance(result, DatasetError):
        assert "\n" not in str(result)
    else:
        _check_usable(result)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    labels=st.dictionaries(
        st.sampled_from(["background", "wt", "tc", "et", "x"]),
        st.integers(-1, 5) | st.lists(st.integers(-1, 5), max_size=4),
        min_size=1,
        max_size=5,
    ),
    order=st.lists(st.integers(-1, 5), max_size=5),
)
def test_region_labels_parse_to_regions_inside_the_labels_or_one_error(dataset_root, labels, order):
    meta = {
        "channel_names": {"0": "T1", "1": "T2"},
        "labels": labels,
        "regions_class_order": order,
    }
    (dataset_root / "dataset.json").write_text(json.dumps(meta), encoding="utf-8")

    result = _load(dataset_root)

    if not isinstance(result, DatasetError):
        _check_usable(result)
        assert result.case("a").images[1].name == "a_0001.nii.gz"
        if result.regions:
            assert set(result.region_class_order) <= set(result.labels) - {0}


def test_a_valid_example_of_each_layout_loads(dataset_root):
    """The strategies above can reach success: these two points lie inside them."""
    msd = {
        "modality": {"0": "CT"},
        "labels": {"0": "background", "1": "liver"},
        "training": [{"image": "./imagesTr/a.nii.gz", "label": "./labelsTr/a.nii.gz"}],
    }
    nnunet = {
        "channel_names": {"0": "T1", "1": "T2"},
        "labels": {"background": 0, "wt": [1, 2], "tc": 2},
        "regions_class_order": [1, 2],
    }
    for meta in (msd, nnunet):
        (dataset_root / "dataset.json").write_text(json.dumps(meta), encoding="utf-8")
        _check_usable(load_decathlon(dataset_root))


def test_json_nested_too_deeply_is_a_dataset_error(dataset_root):
    (dataset_root / "dataset.json").write_text("[" * 100_000, encoding="utf-8")

    with pytest.raises(DatasetError, match="not valid JSON"):
        load_decathlon(dataset_root)


def test_a_listed_path_with_a_newline_is_named_on_one_line(dataset_root):
    meta = {
        "labels": {"0": "background"},
        "training": [{"image": "imagesTr/a\n.nii.gz", "label": "./labelsTr/a.nii.gz"}],
    }
    (dataset_root / "dataset.json").write_text(json.dumps(meta), encoding="utf-8")

    with pytest.raises(DatasetError) as caught:
        load_decathlon(dataset_root)

    assert "\n" not in str(caught.value)
    assert "a\\n.nii.gz" in str(caught.value)
