"""Multi-channel images and region-based labels in MSD and nnU-Net v2 dataset folders."""

import json

import nibabel as nib
import numpy as np
import pytest

from medai.data import DatasetError, LabelledCase, load_decathlon

BRATS_CHANNELS = {"0": "FLAIR", "1": "T1w", "2": "t1gd", "3": "T2w"}
BRATS_REGIONS = {
    "background": 0,
    "whole_tumor": [1, 2, 3],
    "tumor_core": [2, 3],
    "enhancing_tumor": 3,
}


def _nifti(path, shape=(4, 4, 4)):
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(np.zeros(shape, np.int16), np.eye(4)), path)
    return path


def _meta(root, meta):
    root.mkdir(parents=True, exist_ok=True)
    (root / "dataset.json").write_text(json.dumps(meta), encoding="utf-8")
    return root


def _msd_4d(root, case_ids=("BRATS_001", "BRATS_002")):
    training = []
    for case_id in case_ids:
        _nifti(root / "imagesTr" / f"{case_id}.nii.gz", (4, 4, 4, 4))
        _nifti(root / "labelsTr" / f"{case_id}.nii.gz")
        training.append(
            {"image": f"./imagesTr/{case_id}.nii.gz", "label": f"./labelsTr/{case_id}.nii.gz"}
        )
    labels = {"0": "background", "1": "edema", "2": "non-enhancing tumor", "3": "enhancing"}
    meta = {"name": "BrainTumour", "modality": BRATS_CHANNELS, "labels": labels}
    return _meta(root, {**meta, "training": training})


def _nnunet(root, case_ids=("BraTS_a", "BraTS_b"), channels=4, **meta):
    for case_id in case_ids:
        for index in range(channels):
            _nifti(root / "imagesTr" / f"{case_id}_{index:04d}.nii.gz")
        _nifti(root / "labelsTr" / f"{case_id}.nii.gz")
    base = {
        "channel_names": BRATS_CHANNELS,
        "labels": BRATS_REGIONS,
        "regions_class_order": [1, 2, 3],
        "file_ending": ".nii.gz",
    }
    return _meta(root, {**base, **meta})


def _error(root):
    with pytest.raises(DatasetError) as caught:
        load_decathlon(root)
    assert "\n" not in str(caught.value)
    return caught.value


def test_msd_multi_channel_dataset_names_its_channels_and_has_one_4d_file_per_case(tmp_path):
    root = _msd_4d(tmp_path / "Task01_BrainTumour")

    dataset = load_decathlon(root)

    assert dataset.channels == ("FLAIR", "T1w", "t1gd", "T2w")
    assert dataset.regions == {}
    assert dataset.region_class_order == ()
    case = dataset.case("BRATS_002")
    assert case.images == (root.resolve() / "imagesTr" / "BRATS_002.nii.gz",)
    assert case.image == case.images[0]


def test_nnunet_multi_channel_case_lists_its_channel_files_in_order(tmp_path):
    root = _nnunet(tmp_path / "Dataset137_BraTS")

    case = load_decathlon(root).case("BraTS_b")

    images = root.resolve() / "imagesTr"
    assert case.images == tuple(images / f"BraTS_b_000{k}.nii.gz" for k in range(4))
    assert case.files() == (*case.images, root.resolve() / "labelsTr" / "BraTS_b.nii.gz")


def test_the_image_of_a_case_with_several_files_is_an_error_naming_the_case(tmp_path):
    case = load_decathlon(_nnunet(tmp_path / "ds")).case("BraTS_a")

    with pytest.raises(ValueError, match="case 'BraTS_a' has 4 image files"):
        _ = case.image


def test_files_lists_every_channel_file_of_every_case(tmp_path):
    root = _nnunet(tmp_path / "ds", case_ids=("a",), channels=4)

    files = load_decathlon(root).files()

    resolved = root.resolve()
    assert files == [
        resolved / "dataset.json",
        *(resolved / "imagesTr" / f"a_000{k}.nii.gz" for k in range(4)),
        resolved / "labelsTr" / "a.nii.gz",
    ]


def test_a_missing_channel_file_is_an_error_naming_the_case_and_the_file(tmp_path):
    root = _nnunet(tmp_path / "ds")
    missing = root / "imagesTr" / "BraTS_b_0002.nii.gz"
    missing.unlink()

    err = _error(root)

    assert err.path == missing.resolve()
    assert err.problem == "missing: channel 2 (t1gd) of case 'BraTS_b' in labelsTr/"
    assert "BraTS_b_0002.nii.gz" in str(err)


def test_a_channel_file_beyond_the_declared_channels_is_an_error(tmp_path):
    root = _nnunet(tmp_path / "ds", channels=5)

    err = _error(root)

    assert err.path == (root / "imagesTr" / "BraTS_a_0004.nii.gz").resolve()
    assert err.problem == (
        "case 'BraTS_a' has a channel file beyond the 4 channel(s) dataset.json declares"
    )


@pytest.mark.parametrize(
    ("channels", "problem"),
    [
        ({"1": "T1", "2": "T2"}, "key 'channel_names' must number its channels '0'..'1', "),
        ({"0": "T1", "0x": "T2"}, "key 'channel_names' must number its channels '0'..'1', "),
        ({"0": "T1", "1": ""}, "channel_names.1: expected a channel name, got ''"),
        ({"0": 3}, "channel_names.0: expected a channel name, got 3"),
        ([], "key 'modality' (or 'channel_names') must be a non-empty object"),
    ],
)
def test_bad_channel_names_are_an_error_naming_the_key(tmp_path, channels, problem):
    err = _error(_nnunet(tmp_path / "ds", channel_names=channels))

    assert err.path == (tmp_path / "ds" / "dataset.json").resolve()
    assert err.problem.startswith(problem)


def test_region_labels_are_parsed_with_the_label_values_the_maps_use(tmp_path):
    dataset = load_decathlon(_nnunet(tmp_path / "ds"))

    assert dataset.regions == {
        "whole_tumor": (1, 2, 3),
        "tumor_core": (2, 3),
        "enhancing_tumor": (3,),
    }
    assert dataset.region_class_order == (1, 2, 3)
    # Each value is named after the region regions_class_order writes it for.
    assert dataset.labels == {
        0: "background",
        1: "whole_tumor",
        2: "tumor_core",
        3: "enhancing_tumor",
    }


def test_a_label_value_no_region_writes_is_named_by_its_value(tmp_path):
    labels = {"background": 0, "kidney": [1, 2, 3], "masses": [2, 3]}

    dataset = load_decathlon(_nnunet(tmp_path / "ds", labels=labels, regions_class_order=[1, 3]))

    assert dataset.labels == {0: "background", 1: "kidney", 2: "label 2", 3: "masses"}


def test_one_label_lists_are_plain_labels_as_nnunet_reads_them(tmp_path):
    labels = {"background": [0], "liver": [1], "tumour": 2}

    dataset = load_decathlon(_nnunet(tmp_path / "ds", labels=labels, regions_class_order=None))

    assert dataset.regions == {}
    assert dataset.labels == {0: "background", 1: "liver", 2: "tumour"}


@pytest.mark.parametrize(
    ("labels", "order", "problem"),
    [
        (
            {"background": 0, "wt": [1, 2], "tc": [2]},
            [1],
            "key 'regions_class_order' must list one label per region (2: wt, tc), got a list of 1",
        ),
        (
            {"background": 0, "wt": [1, 2], "tc": [2]},
            "1,2",
            "key 'regions_class_order' must list one label per region (2: wt, tc), got '1,2'",
        ),
        (
            {"background": 0, "wt": [1, 2], "tc": [2]},
            [1, 7],
            "regions_class_order[1]: expected one of the region labels [1, 2], got 7",
        ),
        (
            {"background": 0, "wt": [1, 2], "tc": [2]},
            [1, "2"],
            "regions_class_order[1]: expected one of the region labels [1, 2], got '2'",
        ),
        (
            {"background": 0, "wt": [1, 2.5]},
            [1],
            "labels.wt: expected non-negative integer labels, got 2.5",
        ),
        (
            {"background": 0, "wt": [1, -2]},
            [1],
            "labels.wt: expected non-negative integer labels, got -2",
        ),
        (
            {"background": 0, "wt": [1, True]},
            [1],
            "labels.wt: expected non-negative integer labels, got True",
        ),
        (
            {"background": 0, "wt": [1, "2"]},
            [1],
            "labels.wt: expected non-negative integer labels, got '2'",
        ),
        (
            {"background": 0, "wt": [1, 2, 1]},
            [1],
            "labels.wt: lists label 1 twice",
        ),
        (
            {"background": 0, "wt": [1, 2], "tc": []},
            [1, 2],
            "labels.tc: expected a label or a list of labels, got []",
        ),
        (
            {"wt": [1, 2], "tc": 2},
            [1, 2],
            "key 'labels' must define background as 0",
        ),
        (
            {"background": 0, "wt": [1, 2], "3": "enhancing"},
            [1, 2],
            "labels.3: expected non-negative integer labels, got 'enhancing'",
        ),
    ],
)
def test_bad_region_labels_are_an_error_naming_the_key(tmp_path, labels, order, problem):
    root = _nnunet(tmp_path / "ds", labels=labels, regions_class_order=order)

    err = _error(root)

    assert err.path == root.resolve() / "dataset.json"
    assert err.problem == problem


def test_a_labelled_case_with_one_file_keeps_the_single_channel_image_attribute(tmp_path):
    image, label = tmp_path / "a.nii.gz", tmp_path / "a_label.nii.gz"

    case = LabelledCase("a", (image,), label)

    assert case.image == image
    assert case.files() == (image, label)
