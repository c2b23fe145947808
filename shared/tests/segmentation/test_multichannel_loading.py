"""Multi-channel cases load as (C, X, Y, Z) MetaTensors from either dataset layout."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
import torch

from medai.config import WorkLimits
from medai.data import Split, load_decathlon
from medai.io import ChannelCountError, ChannelMismatchError, MedicalImageError, write_nifti
from medai.io.dicom import TooManyVoxelsError
from medai.segmentation.data import IMAGE, LABEL, SegmentationData, case_item
from medai.segmentation.settings import PreprocessingSettings
from medai.segmentation.transforms import LoadCased, validation_transforms

CHANNELS = {"0": "FLAIR", "1": "T1w", "2": "t1gd", "3": "T2w"}
NAMES = tuple(CHANNELS.values())
SHAPE = (8, 9, 10)
AFFINE = np.diag([1.0, 1.0, 1.5, 1.0])
LABELS = {"0": "background", "1": "edema", "2": "core", "3": "enhancing"}


def _case_data(seed):
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 1000, size=(*SHAPE, 4)).astype(np.int16)
    label = rng.integers(0, 4, size=SHAPE).astype(np.uint8)
    return image, label


def _save_4d(path, data, affine=AFFINE):
    path.parent.mkdir(parents=True, exist_ok=True)
    image = nib.Nifti1Image(data, affine)
    image.set_qform(affine, code=1)
    image.set_sform(affine, code=1)
    nib.save(image, path)


def write_msd(root, case_ids=("BRATS_001", "BRATS_002")):
    """Task01_BrainTumour's shape: one 4D NIfTI per case, channels last."""
    training = []
    for seed, case_id in enumerate(case_ids):
        image, label = _case_data(seed)
        _save_4d(root / "imagesTr" / f"{case_id}.nii.gz", image)
        write_nifti(root / "labelsTr" / f"{case_id}.nii.gz", label, AFFINE)
        training.append(
            {"image": f"./imagesTr/{case_id}.nii.gz", "label": f"./labelsTr/{case_id}.nii.gz"}
        )
    meta = {"modality": CHANNELS, "labels": LABELS, "training": training}
    (root / "dataset.json").write_text(json.dumps(meta), encoding="utf-8")
    return root


def write_nnunet(root, case_ids=("BRATS_001", "BRATS_002")):
    """nnU-Net v2's shape: imagesTr/<case>_0000.nii.gz .. _0003, the same data as write_msd."""
    for seed, case_id in enumerate(case_ids):
        image, label = _case_data(seed)
        for index in range(4):
            write_nifti(
                root / "imagesTr" / f"{case_id}_{index:04d}.nii.gz", image[..., index], AFFINE
            )
        write_nifti(root / "labelsTr" / f"{case_id}.nii.gz", label, AFFINE)
    meta = {"channel_names": CHANNELS, "labels": {v: int(k) for k, v in LABELS.items()}}
    (root / "dataset.json").write_text(json.dumps(meta), encoding="utf-8")
    return root


def _load(dataset, case_id, **kwargs):
    load = LoadCased(sorted(dataset.labels), channels=dataset.channels, **kwargs)
    return load(case_item(dataset.case(case_id)))


def test_both_layouts_load_to_identical_channel_first_tensors(tmp_path):
    msd = load_decathlon(write_msd(tmp_path / "msd"))
    nnunet = load_decathlon(write_nnunet(tmp_path / "nnunet"))

    from_msd = _load(msd, "BRATS_002")
    from_nnunet = _load(nnunet, "BRATS_002")

    expected, label = _case_data(1)
    assert from_msd[IMAGE].shape == (4, *SHAPE)
    assert from_msd[IMAGE].dtype == torch.float32
    torch.testing.assert_close(from_msd[IMAGE], from_nnunet[IMAGE])
    np.testing.assert_array_equal(from_msd[IMAGE].numpy(), np.moveaxis(expected, -1, 0))
    torch.testing.assert_close(from_msd[IMAGE].affine, from_nnunet[IMAGE].affine)
    torch.testing.assert_close(from_msd[IMAGE].affine, torch.from_numpy(AFFINE))
    np.testing.assert_array_equal(from_nnunet[LABEL].numpy()[0], label)


def test_case_item_lists_every_image_file_and_the_label(tmp_path):
    dataset = load_decathlon(write_nnunet(tmp_path / "ds"))
    case = dataset.case("BRATS_001")

    assert case_item(case) == {
        IMAGE: [str(path) for path in case.images],
        LABEL: str(case.label),
    }


def test_a_single_path_item_loads_as_the_one_file_list_does(tmp_path):
    dataset = load_decathlon(write_msd(tmp_path / "ds"))
    case = dataset.case("BRATS_001")
    load = LoadCased(sorted(dataset.labels))

    as_list = load(case_item(case))
    as_path = load({IMAGE: str(case.image), LABEL: str(case.label)})

    torch.testing.assert_close(as_list[IMAGE], as_path[IMAGE])


def test_an_item_without_image_paths_is_a_type_error():
    with pytest.raises(TypeError, match="item 'image' must be a file path or a list of them"):
        LoadCased([0, 1])({IMAGE: 3})


def test_a_4d_case_with_the_wrong_channel_count_is_refused(tmp_path):
    root = write_msd(tmp_path / "ds")
    image, _ = _case_data(0)
    path = root / "imagesTr" / "BRATS_001.nii.gz"
    _save_4d(path, image[..., :3])

    with pytest.raises(ChannelCountError, match=r"has 3 channel\(s\) on its 4th axis; expected 4"):
        _load(load_decathlon(root), "BRATS_001")


def test_channel_files_with_different_affines_are_refused(tmp_path):
    root = write_nnunet(tmp_path / "ds")
    image, _ = _case_data(0)
    write_nifti(
        root / "imagesTr" / "BRATS_001_0001.nii.gz", image[..., 1], np.diag([1.0, 1.0, 2.0, 1.0])
    )

    with pytest.raises(ChannelMismatchError, match=r"channel 1 \(T1w\) affine differs"):
        _load(load_decathlon(root), "BRATS_001")


def test_a_label_off_the_image_grid_is_refused(tmp_path):
    root = write_nnunet(tmp_path / "ds")
    write_nifti(root / "labelsTr" / "BRATS_002.nii.gz", np.zeros((8, 9, 9), np.uint8), AFFINE)

    with pytest.raises(
        MedicalImageError, match=r"label shape \(8, 9, 9\) differs from image shape \(8, 9, 10\)"
    ):
        _load(load_decathlon(root), "BRATS_002")


def test_the_grid_limit_counts_every_channel_before_decoding(tmp_path):
    dataset = load_decathlon(write_nnunet(tmp_path / "ds"))
    voxels = int(np.prod(SHAPE))
    prep = PreprocessingSettings(target_spacing=(1.0, 1.0, 1.5), patch_size=(8, 8, 8))
    # One channel's grid (and the 8 x 16 x 16 padded one) fits; the four channels do not.
    limits = WorkLimits(max_grid_voxels=2 * voxels)

    with pytest.raises(TooManyVoxelsError, match=f"{4 * voxels} in all; the limit is"):
        _load(dataset, "BRATS_001", prep=prep, limits=limits)
    assert _load(dataset, "BRATS_001", prep=prep, limits=WorkLimits(max_grid_voxels=4 * voxels))


def test_validation_chain_resamples_every_channel(tmp_path):
    dataset = load_decathlon(write_msd(tmp_path / "ds"))
    prep = PreprocessingSettings(
        target_spacing=(2.0, 2.0, 3.0), intensity_min=0, intensity_max=1000
    )
    chain = validation_transforms(prep, sorted(dataset.labels), channels=dataset.channels)

    out = chain(case_item(dataset.case("BRATS_001")))

    assert out[IMAGE].shape == (4, 4, 5, 6)
    assert out[LABEL].shape == (1, 4, 5, 6)
    assert float(out[IMAGE].min()) >= 0.0
    assert float(out[IMAGE].max()) <= 1.0


def test_manifest_of_cases_hashes_every_channel_file(tmp_path):
    dataset = load_decathlon(write_nnunet(tmp_path / "ds"))
    split = Split(train=("BRATS_001",), validation=("BRATS_002",), seed=0, validation_fraction=0.5)

    manifest = SegmentationData(dataset, split).manifest(dataset.cases[:1])

    assert [entry.relative_path for entry in manifest.entries] == [
        *(f"imagesTr/BRATS_001_000{k}.nii.gz" for k in range(4)),
        "labelsTr/BRATS_001.nii.gz",
    ]
