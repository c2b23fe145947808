"""Tests of the synthetic MSD-layout CT phantom generator."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import numpy.typing as npt
import pytest
from scipy import ndimage

from ct_seg.data import PhantomSpec, generate_phantom_dataset, synthetic
from medai.testing import interrupted_at_call

N_CASES = 4
SEED = 1234
MSD_KEYS = {
    "name",
    "description",
    "tensorImageSize",
    "reference",
    "licence",
    "release",
    "modality",
    "labels",
    "numTraining",
    "numTest",
    "training",
    "test",
}


@dataclass(frozen=True)
class LoadedCase:
    image: npt.NDArray[np.int16]
    label: npt.NDArray[np.uint8]
    # nibabel's images are unannotated; Any keeps mypy --strict quiet about their methods.
    image_nii: Any
    label_nii: Any


def load_case(root: Path, entry: dict[str, str]) -> LoadedCase:
    image_nii: Any = nib.load(root / entry["image"])
    label_nii: Any = nib.load(root / entry["label"])
    assert isinstance(image_nii, nib.Nifti1Image)
    assert isinstance(label_nii, nib.Nifti1Image)
    return LoadedCase(
        image=np.asanyarray(image_nii.dataobj),
        label=np.asanyarray(label_nii.dataobj),
        image_nii=image_nii,
        label_nii=label_nii,
    )


def load_dataset(root: Path) -> list[LoadedCase]:
    manifest = json.loads((root / "dataset.json").read_text(encoding="utf-8"))
    return [load_case(root, entry) for entry in manifest["training"]]


@pytest.fixture(scope="module")
def dataset_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_phantom_dataset(
        tmp_path_factory.mktemp("phantom") / "Task_Phantom", N_CASES, seed=SEED
    )


@pytest.fixture(scope="module")
def cases(dataset_root: Path) -> list[LoadedCase]:
    return load_dataset(dataset_root)


def test_layout_and_dataset_json(dataset_root: Path) -> None:
    manifest = json.loads((dataset_root / "dataset.json").read_text(encoding="utf-8"))

    assert set(manifest) == MSD_KEYS
    assert manifest["name"] == "SyntheticCTPhantom"
    assert "synthetic" in manifest["description"].lower()
    assert str(SEED) in manifest["description"]
    assert synthetic.GENERATOR_VERSION in manifest["description"]
    assert manifest["tensorImageSize"] == "3D"
    assert manifest["modality"] == {"0": "CT"}
    assert manifest["labels"] == {"0": "background", "1": "organ", "2": "lesion"}
    assert manifest["numTraining"] == N_CASES
    assert manifest["numTest"] == 0
    assert manifest["test"] == []
    assert manifest["training"] == [
        {
            "image": f"./imagesTr/phantom_{i:03d}.nii.gz",
            "label": f"./labelsTr/phantom_{i:03d}.nii.gz",
        }
        for i in range(N_CASES)
    ]
    for entry in manifest["training"]:
        assert (dataset_root / entry["image"]).is_file()
        assert (dataset_root / entry["label"]).is_file()
    assert {p.name for p in dataset_root.iterdir()} == {"dataset.json", "imagesTr", "labelsTr"}
    assert len(list((dataset_root / "imagesTr").iterdir())) == N_CASES
    assert len(list((dataset_root / "labelsTr").iterdir())) == N_CASES


def test_returns_root_and_leaves_no_staging_folder(tmp_path: Path) -> None:
    root = tmp_path / "nested" / "ds"

    assert generate_phantom_dataset(root, 1, seed=0) == root
    assert [p.name for p in (tmp_path / "nested").iterdir()] == ["ds"]


def test_custom_name(tmp_path: Path) -> None:
    root = generate_phantom_dataset(tmp_path / "ds", 1, seed=0, name="Task99_Phantom")

    assert json.loads((root / "dataset.json").read_text(encoding="utf-8"))["name"] == (
        "Task99_Phantom"
    )


def test_same_seed_is_identical(tmp_path: Path) -> None:
    first = generate_phantom_dataset(tmp_path / "a", 3, seed=7)
    second = generate_phantom_dataset(tmp_path / "b", 3, seed=7)

    assert (first / "dataset.json").read_bytes() == (second / "dataset.json").read_bytes()
    for one, two in zip(load_dataset(first), load_dataset(second), strict=True):
        assert one.image.tobytes() == two.image.tobytes()
        assert one.label.tobytes() == two.label.tobytes()
        np.testing.assert_array_equal(one.image_nii.affine, two.image_nii.affine)


def test_different_seed_differs(tmp_path: Path) -> None:
    first = load_dataset(generate_phantom_dataset(tmp_path / "a", 2, seed=7))
    second = load_dataset(generate_phantom_dataset(tmp_path / "b", 2, seed=8))

    for one, two in zip(first, second, strict=True):
        assert one.image.shape != two.image.shape or not np.array_equal(one.image, two.image)
        assert one.label.shape != two.label.shape or not np.array_equal(one.label, two.label)


def test_case_depends_only_on_seed_and_index(tmp_path: Path) -> None:
    few = load_dataset(generate_phantom_dataset(tmp_path / "few", 2, seed=SEED))
    many = load_dataset(generate_phantom_dataset(tmp_path / "many", 4, seed=SEED))

    for one, two in zip(few, many[:2], strict=True):
        assert one.image.tobytes() == two.image.tobytes()
        assert one.label.tobytes() == two.label.tobytes()
    # Distinct indices must not repeat a case.
    assert many[2].image.tobytes() != many[0].image.tobytes()


def test_case_does_not_depend_on_generation_order(cases: list[LoadedCase]) -> None:
    # Drawing the last case alone, without the ones before it, must reproduce it: a single
    # random stream shared across cases would pass the n_cases test above but fail here.
    alone = synthetic.generate_phantom_case(N_CASES - 1, seed=SEED)

    assert alone.image.tobytes() == cases[-1].image.tobytes()
    assert alone.label.tobytes() == cases[-1].label.tobytes()
    np.testing.assert_array_equal(alone.affine, cases[-1].image_nii.affine)


def test_image_and_label_geometry_match(cases: list[LoadedCase]) -> None:
    spacing = PhantomSpec().spacing
    for case in cases:
        assert case.image.dtype == np.int16
        assert case.label.dtype == np.uint8
        assert case.image.shape == case.label.shape
        np.testing.assert_array_equal(case.image_nii.affine, case.label_nii.affine)
        affine = case.image_nii.affine
        np.testing.assert_allclose(np.diag(affine)[:3], spacing)
        np.testing.assert_allclose(affine[:3, :3], np.diag(spacing))
        # A positive diagonal maps i, j, k onto +x, +y, +z of RAS+ without flips, and the
        # origin centres the volume on the world origin.
        centre = affine @ np.array([*((np.array(case.image.shape) - 1) / 2), 1.0])
        np.testing.assert_allclose(centre[:3], 0.0, atol=1e-9)
        for nii in (case.image_nii, case.label_nii):
            assert int(nii.header["qform_code"]) == 1
            assert int(nii.header["sform_code"]) == 1
            np.testing.assert_allclose(nii.get_qform(), affine)
            np.testing.assert_allclose(nii.get_sform(), affine)


def test_labels_have_organ_and_lesion(cases: list[LoadedCase]) -> None:
    for case in cases:
        assert set(np.unique(case.label).tolist()) == {0, 1, 2}
        organ = int((case.label == 1).sum())
        lesion = int((case.label == 2).sum())
        # The organ is large; lesions are at least a radius-3 ball (~100 voxels) each.
        assert organ > 0.02 * case.label.size
        assert lesion >= 80
        assert organ > lesion
        # The organ is the biggest structure, larger than the (unlabelled) spine.
        assert organ > (case.image > 300).sum()


def test_lesion_count_respects_max_lesions(tmp_path: Path) -> None:
    spec = PhantomSpec(max_lesions=1)
    for case in load_dataset(generate_phantom_dataset(tmp_path / "ds", 3, seed=0, spec=spec)):
        _, n_lesions = ndimage.label(case.label == 2)
        assert n_lesions == 1


def test_lesions_lie_inside_organ_and_body(cases: list[LoadedCase]) -> None:
    for case in cases:
        lesion = case.label == 2
        # Every lesion is wrapped in organ: growing it by one voxel stays in the labels.
        grown = ndimage.binary_dilation(lesion, structure=np.ones((3, 3, 3), dtype=bool))
        assert (case.label[grown] > 0).all()
        # ...and sits well inside the body (away from the air outside it).
        depth = ndimage.distance_transform_edt(case.image > -500)
        assert depth[lesion].min() >= 3
        # No label touches the edge of the field of view.
        for face in (np.s_[0], np.s_[-1], np.s_[:, 0], np.s_[:, -1], np.s_[..., 0], np.s_[..., -1]):
            assert not case.label[face].any()


def test_hu_ranges_are_plausible(cases: list[LoadedCase]) -> None:
    for case in cases:
        image = case.image.astype(np.float64)
        assert image.min() >= -1024
        assert image.max() <= 3071
        corner = image[:4, :4, :]
        assert abs(float(np.median(corner)) + 1000) < 10
        organ_core = ndimage.binary_erosion(case.label == 1, iterations=2)
        lesion_core = ndimage.binary_erosion(case.label == 2)
        organ_mean = float(image[organ_core].mean())
        lesion_mean = float(image[lesion_core].mean())
        assert 58 <= organ_mean <= 72
        assert organ_mean - lesion_mean >= 35
        # The spine is painted as bone, brighter than any labelled tissue.
        assert image.max() > 350


def test_noise_hu_sets_the_noise(tmp_path: Path) -> None:
    def organ_std(noise_hu: float) -> float:
        spec = PhantomSpec(noise_hu=noise_hu)
        root = generate_phantom_dataset(tmp_path / f"n{noise_hu}", 1, seed=0, spec=spec)
        (case,) = load_dataset(root)
        core = ndimage.binary_erosion(case.label == 1, iterations=3)
        return float(case.image[core].std())

    assert organ_std(0.0) < 1.5
    assert 10.0 < organ_std(12.0) < 14.0
    assert 27.0 < organ_std(30.0) < 33.0


def test_shapes_vary_within_jitter(cases: list[LoadedCase]) -> None:
    spec = PhantomSpec()
    shapes = {case.image.shape for case in cases}

    assert len(shapes) > 1
    for shape in shapes:
        for size, nominal in zip(shape, spec.shape, strict=True):
            assert abs(size - nominal) <= spec.shape_jitter


def test_zero_jitter_gives_nominal_shape_and_spacing(tmp_path: Path) -> None:
    spec = PhantomSpec(shape=(40, 48, 36), spacing=(0.8, 0.9, 2.5), shape_jitter=0)
    root = generate_phantom_dataset(tmp_path / "ds", 2, seed=0, spec=spec)

    for case in load_dataset(root):
        assert case.image.shape == (40, 48, 36)
        np.testing.assert_allclose(case.image_nii.header.get_zooms(), (0.8, 0.9, 2.5))
        assert (case.label == 2).any()


def test_refuses_to_overwrite_a_dataset(tmp_path: Path) -> None:
    root = generate_phantom_dataset(tmp_path / "ds", 1, seed=0)
    before = (root / "dataset.json").read_bytes()

    with pytest.raises(FileExistsError):
        generate_phantom_dataset(root, 2, seed=1)
    assert (root / "dataset.json").read_bytes() == before


def test_fills_an_existing_empty_folder(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    root.mkdir()

    generate_phantom_dataset(root, 1, seed=0)

    assert (root / "dataset.json").is_file()


def test_interrupted_run_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The third file is the second case's image: interrupted in the middle of a case.
    monkeypatch.setattr(synthetic, "_save_nifti", interrupted_at_call(synthetic._save_nifti, 3))
    root = tmp_path / "ds"

    with pytest.raises(KeyboardInterrupt):
        generate_phantom_dataset(root, 3, seed=0)
    assert not root.exists()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"shape_jitter": -1}, "shape_jitter"),
        ({"shape": (40, 40, 40), "shape_jitter": 9}, "anatomy fits"),
        ({"shape": (40, 40)}, "3 entries"),
        ({"spacing": (1.0, 0.0, 1.0)}, "spacing"),
        ({"noise_hu": -1.0}, "noise_hu"),
        ({"max_lesions": 0}, "max_lesions"),
    ],
)
def test_rejects_invalid_spec(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PhantomSpec(**kwargs)


def test_rejects_no_cases(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="n_cases"):
        generate_phantom_dataset(tmp_path / "ds", 0, seed=0)
    assert not (tmp_path / "ds").exists()
