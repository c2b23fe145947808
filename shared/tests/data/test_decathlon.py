import json

import nibabel as nib
import numpy as np
import pytest

from medai.data import DatasetError, case_id_of, load_decathlon

MSD_LABELS = {"0": "background", "1": "liver"}
NNUNET_LABELS = {"background": 0, "liver": 1}


def _nifti(path, value=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.full((8, 8, 8), value, dtype=np.int16)
    nib.save(nib.Nifti1Image(data, np.eye(4)), path)
    return path


def _write_meta(root, meta):
    root.mkdir(parents=True, exist_ok=True)
    path = root / "dataset.json"
    path.write_text(json.dumps(meta) if isinstance(meta, dict) else meta, encoding="utf-8")
    return path


def _msd(root, case_ids=("liver_0", "liver_1"), **meta):
    training = []
    for case_id in case_ids:
        _nifti(root / "imagesTr" / f"{case_id}.nii.gz", 100)
        _nifti(root / "labelsTr" / f"{case_id}.nii.gz", 1)
        training.append(
            {"image": f"./imagesTr/{case_id}.nii.gz", "label": f"./labelsTr/{case_id}.nii.gz"}
        )
    base = {"name": "Task03_Liver", "modality": {"0": "CT"}, "labels": MSD_LABELS}
    _write_meta(root, {**base, "training": training, **meta})
    return root


def _nnunet(root, case_ids=("case_a", "case_b"), **meta):
    for case_id in case_ids:
        _nifti(root / "imagesTr" / f"{case_id}_0000.nii.gz", 100)
        _nifti(root / "labelsTr" / f"{case_id}.nii.gz", 1)
    base = {
        "channel_names": {"0": "CT"},
        "labels": NNUNET_LABELS,
        "numTraining": len(case_ids),
        "file_ending": ".nii.gz",
    }
    _write_meta(root, {**base, **meta})
    return root


def _error(root):
    with pytest.raises(DatasetError) as caught:
        load_decathlon(root)
    assert "\n" not in str(caught.value)
    return caught.value


def test_msd_layout_is_parsed_with_cases_labels_and_modality(tmp_path):
    root = _msd(tmp_path / "Task03_Liver")

    dataset = load_decathlon(root)

    assert dataset.root == root.resolve()
    assert dataset.name == "Task03_Liver"
    assert dataset.modality == "CT"
    assert dataset.labels == {0: "background", 1: "liver"}
    assert dataset.foreground_labels == {1: "liver"}
    assert [c.case_id for c in dataset.cases] == ["liver_0", "liver_1"]
    case = dataset.case("liver_1")
    assert case.image == root.resolve() / "imagesTr" / "liver_1.nii.gz"
    assert case.label == root.resolve() / "labelsTr" / "liver_1.nii.gz"


def test_nnunet_layout_is_parsed_from_labels_tr(tmp_path):
    root = _nnunet(tmp_path / "Dataset001_Liver")

    dataset = load_decathlon(root)

    assert dataset.name == "Dataset001_Liver"  # no "name" key: the folder name
    assert dataset.modality == "CT"
    assert dataset.labels == {0: "background", 1: "liver"}
    assert [c.case_id for c in dataset.cases] == ["case_a", "case_b"]
    case = dataset.case("case_b")
    assert case.image == root.resolve() / "imagesTr" / "case_b_0000.nii.gz"
    assert case.label == root.resolve() / "labelsTr" / "case_b.nii.gz"


def test_nnunet_layout_ignores_hidden_files_in_labels_tr(tmp_path):
    root = _nnunet(tmp_path / "ds")
    (root / "labelsTr" / "._case_a.nii.gz").write_bytes(b"macOS resource fork")

    assert [c.case_id for c in load_decathlon(root).cases] == ["case_a", "case_b"]


def test_files_lists_dataset_json_and_every_image_and_label(tmp_path):
    root = _msd(tmp_path / "ds", case_ids=("a",))

    files = load_decathlon(root).files()

    resolved = root.resolve()
    assert files == [
        resolved / "dataset.json",
        resolved / "imagesTr" / "a.nii.gz",
        resolved / "labelsTr" / "a.nii.gz",
    ]


def test_unknown_case_lookup_raises_key_error(tmp_path):
    dataset = load_decathlon(_msd(tmp_path / "ds"))

    with pytest.raises(KeyError, match="nope"):
        dataset.case("nope")


@pytest.mark.parametrize(
    ("name", "case_id"),
    [("liver_3.nii.gz", "liver_3"), ("liver_3.nii", "liver_3"), ("a.b.nii.gz", "a.b")],
)
def test_case_id_of_strips_nifti_suffixes(tmp_path, name, case_id):
    assert case_id_of(tmp_path / name) == case_id


def test_missing_folder_is_an_error(tmp_path):
    err = _error(tmp_path / "absent")

    assert str(err) == f"{tmp_path / 'absent'}: dataset folder does not exist"


def test_missing_dataset_json_is_an_error(tmp_path):
    (tmp_path / "ds").mkdir()

    err = _error(tmp_path / "ds")

    assert err.path == tmp_path / "ds" / "dataset.json"
    assert err.problem == "missing; expected the MSD / nnU-Net dataset.json here"


def test_invalid_json_is_an_error_naming_dataset_json(tmp_path):
    _write_meta(tmp_path / "ds", '{"labels": {')

    err = _error(tmp_path / "ds")

    assert err.path == tmp_path / "ds" / "dataset.json"
    assert err.problem.startswith("not valid JSON (")


def test_dataset_json_that_is_not_an_object_is_an_error(tmp_path):
    _write_meta(tmp_path / "ds", "[1, 2]")

    assert _error(tmp_path / "ds").problem == "must hold a JSON object"


@pytest.mark.parametrize("labels", [None, {}, ["background", "liver"]])
def test_missing_or_empty_labels_is_an_error(tmp_path, labels):
    root = _msd(tmp_path / "ds", labels=labels)

    err = _error(root)

    assert err.path == root / "dataset.json"
    assert err.problem == "key 'labels' must be a non-empty object"


@pytest.mark.parametrize("labels", [{"1": "liver"}, {"liver": 1, "tumour": 2}])
def test_labels_without_background_are_an_error(tmp_path, labels):
    err = _error(_msd(tmp_path / "ds", labels=labels))

    assert err.problem == "key 'labels' must define background as 0"


def test_non_integer_label_is_an_error_naming_the_key(tmp_path):
    err = _error(_msd(tmp_path / "ds", labels={"0": "background", "one": "liver"}))

    assert err.problem == "labels.one: expected an integer label, got 'one'"


def test_region_labels_without_regions_class_order_are_an_error(tmp_path):
    labels = {"background": 0, "liver": [1, 2], "tumour": 2}

    err = _error(_nnunet(tmp_path / "ds", labels=labels))

    assert err.problem == (
        "key 'regions_class_order' must list one label per region (2: liver, tumour), got None"
    )


def test_referenced_image_missing_is_an_error_naming_that_file(tmp_path):
    root = _msd(tmp_path / "ds")
    (root / "imagesTr" / "liver_1.nii.gz").unlink()

    err = _error(root)

    assert err.path == root.resolve() / "imagesTr" / "liver_1.nii.gz"
    assert err.problem == "listed in dataset.json (training[1].image) but does not exist"


def test_referenced_label_missing_is_an_error_naming_that_file(tmp_path):
    root = _msd(tmp_path / "ds")
    (root / "labelsTr" / "liver_0.nii.gz").unlink()

    err = _error(root)

    assert err.path == root.resolve() / "labelsTr" / "liver_0.nii.gz"
    assert "training[0].label" in err.problem


@pytest.mark.parametrize("relative", ["../x.nii.gz", "imagesTr/../../x.nii.gz"])
def test_path_escaping_the_dataset_folder_is_an_error(tmp_path, relative):
    _nifti(tmp_path / "x.nii.gz")  # exists, so only the location is wrong
    root = _msd(tmp_path / "ds")
    meta = json.loads((root / "dataset.json").read_text(encoding="utf-8"))
    meta["training"][0]["image"] = relative
    _write_meta(root, meta)

    err = _error(root)

    assert err.path == root / "dataset.json"
    assert err.problem == (
        f"training[0].image: path {relative!r} points outside the dataset folder"
    )


def test_absolute_path_outside_the_dataset_folder_is_an_error(tmp_path):
    outside = _nifti(tmp_path / "x.nii.gz")
    root = _msd(tmp_path / "ds")
    meta = json.loads((root / "dataset.json").read_text(encoding="utf-8"))
    meta["training"][1]["label"] = str(outside)
    _write_meta(root, meta)

    assert "training[1].label: path" in _error(root).problem


@pytest.mark.parametrize("item", [{"image": "./imagesTr/liver_0.nii.gz"}, "liver_0"])
def test_training_entry_without_image_and_label_is_an_error(tmp_path, item):
    root = _msd(tmp_path / "ds")
    meta = json.loads((root / "dataset.json").read_text(encoding="utf-8"))
    meta["training"][0] = item
    _write_meta(root, meta)

    assert _error(root).problem == "training[0]: expected an object with 'image' and 'label'"


def test_training_that_is_not_a_list_is_an_error(tmp_path):
    root = _msd(tmp_path / "ds", training={"image": "a"})

    assert _error(root).problem == "key 'training' must be a list of {image, label} objects"


def test_empty_training_list_is_an_error(tmp_path):
    root = _msd(tmp_path / "ds", training=[])

    assert _error(root).problem == "lists no training cases"


def test_duplicate_case_ids_are_an_error(tmp_path):
    root = _msd(tmp_path / "ds", case_ids=("liver_0",))
    _nifti(root / "other" / "liver_0.nii.gz")
    meta = json.loads((root / "dataset.json").read_text(encoding="utf-8"))
    meta["training"].append(
        {"image": "./other/liver_0.nii.gz", "label": "./labelsTr/liver_0.nii.gz"}
    )
    _write_meta(root, meta)

    err = _error(root)

    assert err.path == root.resolve() / "dataset.json"
    assert err.problem == "case id 'liver_0' appears more than once"


@pytest.mark.parametrize("key", ["modality", "channel_names"])
def test_multi_channel_images_are_read_with_their_channel_names(tmp_path, key):
    root = _nnunet(tmp_path / "ds", **{key: {"0": "FLAIR", "1": "T1w"}})
    for case_id in ("case_a", "case_b"):
        _nifti(root / "imagesTr" / f"{case_id}_0001.nii.gz", 50)

    dataset = load_decathlon(root)

    assert dataset.channels == ("FLAIR", "T1w")
    assert dataset.modality == "FLAIR+T1w"


def test_nnunet_label_without_its_image_is_an_error_naming_the_image(tmp_path):
    root = _nnunet(tmp_path / "ds")
    (root / "imagesTr" / "case_b_0000.nii.gz").unlink()

    err = _error(root)

    assert err.path == root.resolve() / "imagesTr" / "case_b_0000.nii.gz"
    assert err.problem == "missing: the image of case 'case_b' in labelsTr/"


def test_nnunet_layout_without_labels_tr_is_an_error(tmp_path):
    root = _write_meta(tmp_path / "ds", {"labels": NNUNET_LABELS}).parent

    err = _error(root)

    assert err.path == root.resolve() / "labelsTr"
    assert err.problem.startswith("missing; nnU-Net layout needs labelsTr/")


def test_nnunet_unsupported_file_ending_is_an_error(tmp_path):
    root = _nnunet(tmp_path / "ds", file_ending=".mha")

    err = _error(root)

    assert err.problem == "file_ending '.mha' is not supported; expected .nii.gz or .nii"
