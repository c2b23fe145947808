"""Tests of the seeded multi-contrast brain-tumour phantom generator and its two layouts.

The files are read back with nibabel directly: they must be what MSD Task01 and nnU-Net
v2 tools expect, whatever medai's own loader does with them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import numpy.typing as npt
import pytest
from pydantic import ValidationError
from scipy import ndimage

from brain_mri.data import layouts, synthetic
from brain_mri.data.anatomy import Tissue
from brain_mri.data.synthetic import PhantomSpec, generate_phantom_case, generate_phantom_dataset
from brain_mri.settings import SyntheticDataSettings
from medai.testing import interrupted_at_call

N_CASES = 4
SEED = 1234
T1, T1C, T2, FLAIR = range(4)
CUBE = np.ones((3, 3, 3), dtype=bool)
SINGLE_CHANNEL_DICE_CEILING = 0.7
"""No threshold on one channel may find a region this well: a model must combine them."""


def load(path: Path) -> tuple[npt.NDArray[Any], Any]:
    """The voxel array (as stored) and the nibabel image of one NIfTI file."""
    image: Any = nib.load(path)
    assert isinstance(image, nib.Nifti1Image)
    return np.asanyarray(image.dataobj), image


def read_json(root: Path) -> dict[str, Any]:
    meta: dict[str, Any] = json.loads((root / "dataset.json").read_text(encoding="utf-8"))
    return meta


def regions(label: npt.NDArray[np.uint8]) -> dict[str, npt.NDArray[np.bool_]]:
    return {name: np.isin(label, values) for name, values in synthetic.REGIONS.items()}


def dice(one: npt.NDArray[np.bool_], two: npt.NDArray[np.bool_]) -> float:
    return 2.0 * float((one & two).sum()) / float(one.sum() + two.sum())


@pytest.fixture(scope="module")
def msd_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("msd") / "Task01_Phantom"
    return generate_phantom_dataset(root, N_CASES, seed=SEED)


@pytest.fixture(scope="module")
def nnunet_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("nnunet") / "Dataset001_Phantom"
    return generate_phantom_dataset(root, N_CASES, seed=SEED, layout="nnunet")


@pytest.fixture(scope="module")
def cases() -> list[synthetic.PhantomCase]:
    return [generate_phantom_case(index, seed=SEED) for index in range(N_CASES)]


def test_msd_layout_has_one_4d_image_per_case_and_task01_dataset_json(msd_root: Path) -> None:
    meta = read_json(msd_root)
    ids = [f"brain_{index:03d}" for index in range(N_CASES)]

    assert meta["tensorImageSize"] == "4D"
    assert meta["modality"] == {"0": "T1", "1": "T1c", "2": "T2", "3": "FLAIR"}
    assert meta["labels"] == {
        "0": "background",
        "1": "edema",
        "2": "non-enhancing tumor",
        "3": "enhancing tumour",
    }
    assert meta["numTraining"] == N_CASES
    assert synthetic.GENERATOR_VERSION in meta["description"]
    assert str(SEED) in meta["description"]
    assert meta["training"] == [
        {"image": f"./imagesTr/{case}.nii.gz", "label": f"./labelsTr/{case}.nii.gz"} for case in ids
    ]
    assert sorted(p.name for p in (msd_root / "imagesTr").iterdir()) == [
        f"{case}.nii.gz" for case in ids
    ]
    assert sorted(p.name for p in (msd_root / "labelsTr").iterdir()) == [
        f"{case}.nii.gz" for case in ids
    ]
    image, _ = load(msd_root / "imagesTr" / "brain_000.nii.gz")
    label, _ = load(msd_root / "labelsTr" / "brain_000.nii.gz")
    assert image.shape == (*PhantomSpec().shape, 4)
    assert image.dtype == np.int16
    assert label.shape == PhantomSpec().shape
    assert label.dtype == np.uint8


def test_nnunet_layout_has_a_file_per_channel_and_region_labels(nnunet_root: Path) -> None:
    meta = read_json(nnunet_root)
    ids = [f"brain_{index:03d}" for index in range(N_CASES)]

    assert meta["channel_names"] == {"0": "T1", "1": "T1c", "2": "T2", "3": "FLAIR"}
    assert meta["labels"] == {
        "background": 0,
        "whole_tumor": [1, 2, 3],
        "tumor_core": [2, 3],
        "enhancing_tumor": [3],
    }
    assert meta["regions_class_order"] == [1, 2, 3]
    assert meta["file_ending"] == ".nii.gz"
    assert meta["numTraining"] == N_CASES
    assert "training" not in meta  # nnU-Net v2 finds its cases by file name
    assert sorted(p.name for p in (nnunet_root / "imagesTr").iterdir()) == [
        f"{case}_{channel:04d}.nii.gz" for case in ids for channel in range(4)
    ]
    assert sorted(p.name for p in (nnunet_root / "labelsTr").iterdir()) == [
        f"{case}.nii.gz" for case in ids
    ]
    channel, _ = load(nnunet_root / "imagesTr" / "brain_000_0003.nii.gz")
    assert channel.shape == PhantomSpec().shape
    assert channel.dtype == np.int16


def test_both_layouts_hold_identical_arrays_and_geometry(msd_root: Path, nnunet_root: Path) -> None:
    for index in range(N_CASES):
        case = f"brain_{index:03d}"
        four_d, msd_image = load(msd_root / "imagesTr" / f"{case}.nii.gz")
        msd_label, _ = load(msd_root / "labelsTr" / f"{case}.nii.gz")
        nnunet_label, _ = load(nnunet_root / "labelsTr" / f"{case}.nii.gz")
        np.testing.assert_array_equal(msd_label, nnunet_label)
        for channel in range(4):
            part, nnunet_image = load(nnunet_root / "imagesTr" / f"{case}_{channel:04d}.nii.gz")
            np.testing.assert_array_equal(four_d[..., channel], part)
            np.testing.assert_array_equal(msd_image.affine, nnunet_image.affine)


def test_files_hold_the_drawn_case_in_ras_geometry(
    msd_root: Path, cases: list[synthetic.PhantomCase]
) -> None:
    spacing = PhantomSpec().spacing
    for index, case in enumerate(cases):
        image, image_nii = load(msd_root / "imagesTr" / f"brain_{index:03d}.nii.gz")
        label, label_nii = load(msd_root / "labelsTr" / f"brain_{index:03d}.nii.gz")
        np.testing.assert_array_equal(image, case.image)
        np.testing.assert_array_equal(label, case.label)
        for nii in (image_nii, label_nii):
            np.testing.assert_allclose(nii.affine[:3, :3], np.diag(spacing))
            assert int(nii.header["qform_code"]) == 1
            assert int(nii.header["sform_code"]) == 1
            np.testing.assert_allclose(nii.get_qform(), case.affine)
            np.testing.assert_allclose(nii.get_sform(), case.affine)
        # The volume is centred on the world origin.
        centre = case.affine @ np.array([*((np.array(label.shape) - 1) / 2), 1.0])
        np.testing.assert_allclose(centre[:3], 0.0, atol=1e-9)


def test_a_case_depends_only_on_seed_and_index(cases: list[synthetic.PhantomCase]) -> None:
    # Drawn alone, in another order, the last case is the one drawn after the others.
    alone = generate_phantom_case(N_CASES - 1, seed=SEED)
    np.testing.assert_array_equal(alone.image, cases[-1].image)
    np.testing.assert_array_equal(alone.label, cases[-1].label)

    other_seed = generate_phantom_case(N_CASES - 1, seed=SEED + 1)
    assert not np.array_equal(other_seed.label, cases[-1].label)
    assert not np.array_equal(cases[0].label, cases[1].label)


def test_tumour_position_size_and_shape_vary_and_are_not_ellipsoids(
    cases: list[synthetic.PhantomCase],
) -> None:
    centroids, volumes = [], []
    for case in cases:
        core = regions(case.label)["tumor_core"]
        points = np.argwhere(core).astype(np.float64)
        centroid = points.mean(axis=0)
        centroids.append(centroid)
        volumes.append(int(core.sum()))
        # The ellipsoid with the core's own second moments does not describe it.
        inverse = np.linalg.inv(np.cov(points.T))
        grid = np.argwhere(np.ones(core.shape, dtype=bool)).astype(np.float64) - centroid
        inside = np.einsum("ni,ij,nj->n", grid, inverse, grid) <= 5.0
        assert dice(core, inside.reshape(core.shape)) < 0.95
    spread = np.ptp(np.asarray(centroids), axis=0)
    assert spread.max() > 5.0
    assert max(volumes) > 1.3 * min(volumes)


def test_regions_are_nested_non_empty_and_enclosed(cases: list[synthetic.PhantomCase]) -> None:
    for case in cases:
        parts = regions(case.label)
        whole, core, enhancing = parts["whole_tumor"], parts["tumor_core"], parts["enhancing_tumor"]
        necrosis = case.label == synthetic.NECROSIS_LABEL
        oedema = case.label == synthetic.OEDEMA_LABEL
        assert not (enhancing & ~core).any()
        assert not (core & ~whole).any()
        # Large enough to learn at the default shape: voxels of each, not a speck.
        assert oedema.sum() >= 1000
        assert enhancing.sum() >= 300
        assert necrosis.sum() >= 40
        # Necrosis sits inside the rim, the core inside oedema, the tumour inside the brain.
        assert not (ndimage.binary_dilation(necrosis, CUBE) & ~core).any()
        assert not (ndimage.binary_dilation(core, CUBE) & ~whole).any()
        # CSF (at least a voxel deep) lies between the tumour and the skull, face-on.
        outside_brain = np.isin(case.tissue, [Tissue.AIR, Tissue.SCALP, Tissue.SKULL])
        assert not (ndimage.binary_dilation(whole) & outside_brain).any()
        # The labels are exactly the tumour tissues.
        tumour_tissue = np.isin(case.tissue, [Tissue.OEDEMA, Tissue.NECROSIS, Tissue.ENHANCING])
        np.testing.assert_array_equal(whole, tumour_tissue)


def mean_signal(case: synthetic.PhantomCase, tissue: Tissue, channel: int) -> float:
    """Mean signal of a tissue away from its borders (partial volume excluded)."""
    core = ndimage.binary_erosion(case.tissue == tissue)
    if not core.any():
        core = case.tissue == tissue
    return float(case.image[..., channel][core].mean())


def test_each_tissue_has_its_contrast_in_each_channel(cases: list[synthetic.PhantomCase]) -> None:
    for case in cases:
        signal = {
            tissue: [mean_signal(case, tissue, channel) for channel in range(4)]
            for tissue in Tissue
            if tissue != Tissue.AIR
        }
        white = signal[Tissue.WHITE]
        assert signal[Tissue.ENHANCING][T1C] > 2.5 * signal[Tissue.NECROSIS][T1C]
        assert signal[Tissue.ENHANCING][T1C] > 1.3 * white[T1C]
        assert signal[Tissue.ENHANCING][T1] < white[T1]  # enhancement needs gadolinium
        assert signal[Tissue.OEDEMA][FLAIR] > 1.5 * white[FLAIR]
        assert signal[Tissue.OEDEMA][T2] > 1.5 * white[T2]
        assert signal[Tissue.CSF][T2] > 1.8 * white[T2]
        assert signal[Tissue.CSF][FLAIR] < 0.5 * white[FLAIR]  # fluid-attenuated
        assert signal[Tissue.NECROSIS][T2] > 1.5 * white[T2]
        assert signal[Tissue.SCALP][T1] > 1.2 * white[T1]  # fat
        assert white[T1] > signal[Tissue.GREY][T1]
        assert white[T2] < signal[Tissue.GREY][T2]
        for channel in range(4):
            assert signal[Tissue.SKULL][channel] < 0.25 * white[channel]


def best_single_threshold_dice(values: npt.NDArray[Any], mask: npt.NDArray[np.bool_]) -> float:
    """The best Dice of ``values >= t`` or ``values <= t`` with ``mask``, over every ``t``."""
    ordered = mask.ravel()[np.argsort(values.ravel(), kind="stable")].astype(np.int64)
    predicted = np.arange(1, ordered.size + 1)
    brightest = 2.0 * np.cumsum(ordered[::-1]) / (predicted + ordered.sum())
    darkest = 2.0 * np.cumsum(ordered) / (predicted + ordered.sum())
    return float(max(brightest.max(), darkest.max()))


def test_no_single_channel_threshold_finds_a_region(cases: list[synthetic.PhantomCase]) -> None:
    for case in cases[:2]:
        for name, mask in regions(case.label).items():
            for channel in range(4):
                found = best_single_threshold_dice(case.image[..., channel], mask)
                assert found < SINGLE_CHANNEL_DICE_CEILING, (name, synthetic.CHANNELS[channel])


def head_z_scores(case: synthetic.PhantomCase) -> npt.NDArray[np.float64]:
    """Voxels x 4 channels, z-scored over the head so the scanner gain does not matter."""
    values = case.image.reshape(-1, 4).astype(np.float64)
    head = (case.tissue > Tissue.AIR).ravel()
    z: npt.NDArray[np.float64] = (values - values[head].mean(0)) / values[head].std(0)
    return z


def test_the_four_channels_together_separate_the_regions(
    cases: list[synthetic.PhantomCase],
) -> None:
    # A per-voxel Gaussian classifier fitted on three cases' tissues labels the fourth:
    # no context, just the four signals, so the contrasts alone carry each region.
    features = np.concatenate([head_z_scores(case) for case in cases[:-1]])
    tissues = np.concatenate([case.tissue.ravel() for case in cases[:-1]])
    scores = []
    test = head_z_scores(cases[-1])
    for tissue in Tissue:
        own = features[tissues == tissue]
        mean, cov = own.mean(0), np.cov(own.T) + 1e-3 * np.eye(4)
        offset = test - mean
        mahalanobis = np.einsum("ni,ij,nj->n", offset, np.linalg.inv(cov), offset)
        prior = np.log(own.shape[0] / features.shape[0])
        scores.append(-0.5 * mahalanobis - 0.5 * np.linalg.slogdet(cov)[1] + prior)
    predicted_tissue = np.argmax(np.stack(scores, axis=1), axis=1).reshape(cases[-1].tissue.shape)
    predicted = np.zeros_like(cases[-1].label)
    predicted[predicted_tissue == Tissue.OEDEMA] = synthetic.OEDEMA_LABEL
    predicted[predicted_tissue == Tissue.NECROSIS] = synthetic.NECROSIS_LABEL
    predicted[predicted_tissue == Tissue.ENHANCING] = synthetic.ENHANCING_LABEL

    truth = regions(cases[-1].label)
    for name, mask in regions(predicted).items():
        assert dice(mask, truth[name]) > 0.75, name


def test_noise_is_rician_at_the_requested_level() -> None:
    spec = PhantomSpec(shape=(48, 48, 48), noise=0.1)
    case = generate_phantom_case(0, seed=SEED, spec=spec)
    air = ~ndimage.binary_dilation(case.tissue > Tissue.AIR, iterations=3)
    white = ndimage.binary_erosion(case.tissue == Tissue.WHITE, iterations=2)
    for channel in range(4):
        image = case.image[..., channel].astype(np.float64)
        sigma = spec.noise * float(np.median(image[white]))
        # Far from the head the signal is 0, so the magnitude is Rayleigh: mean sigma*sqrt(pi/2).
        assert image[air].mean() == pytest.approx(sigma * np.sqrt(np.pi / 2), rel=0.25)
        assert image.min() >= 0

    quiet = generate_phantom_case(0, seed=SEED, spec=PhantomSpec(shape=(48, 48, 48), noise=0.0))
    assert not quiet.image[air].any()


def test_each_channel_has_its_own_smooth_bias_field() -> None:
    # Without noise, white matter's T1/T2 ratio would be constant (the texture multiplies
    # every channel alike): only per-channel bias fields make it vary across the brain.
    case = generate_phantom_case(1, seed=SEED, spec=PhantomSpec(noise=0.0))
    white = ndimage.binary_erosion(case.tissue == Tissue.WHITE, iterations=2)
    ratio = np.log(case.image[..., T1][white] / case.image[..., T2][white])
    assert ratio.std() > 0.03
    # ...and smoothly: neighbouring voxels differ far less than the brain does end to end.
    log_t1 = np.log(np.maximum(case.image[..., T1], 1).astype(np.float64))
    step = np.abs(np.diff(log_t1, axis=0))[white[1:] & white[:-1]]
    assert np.median(step) < 0.5 * (np.percentile(ratio, 95) - np.percentile(ratio, 5))


def test_spacing_and_shape_reach_the_files(tmp_path: Path) -> None:
    spec = PhantomSpec(shape=(48, 56, 52), spacing=(1.0, 1.2, 2.5))
    root = generate_phantom_dataset(tmp_path / "ds", 1, seed=0, spec=spec, layout="nnunet")
    _, image = load(root / "imagesTr" / "brain_000_0000.nii.gz")
    label, _ = load(root / "labelsTr" / "brain_000.nii.gz")

    assert image.shape == (48, 56, 52)
    np.testing.assert_allclose(image.header.get_zooms(), (1.0, 1.2, 2.5))
    assert set(np.unique(label).tolist()) == {0, 1, 2, 3}


def test_refuses_to_overwrite_a_dataset(tmp_path: Path) -> None:
    spec = PhantomSpec(shape=(48, 48, 48))
    root = generate_phantom_dataset(tmp_path / "ds", 1, seed=0, spec=spec)
    before = (root / "dataset.json").read_bytes()

    with pytest.raises(FileExistsError):
        generate_phantom_dataset(root, 1, seed=1, spec=spec)
    assert (root / "dataset.json").read_bytes() == before


def test_interrupted_run_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The third file is the second case's image: interrupted in the middle of a case.
    monkeypatch.setattr(layouts, "_save_nifti", interrupted_at_call(layouts._save_nifti, 3))
    with pytest.raises(KeyboardInterrupt):
        generate_phantom_dataset(tmp_path / "ds", 3, seed=0, spec=PhantomSpec(shape=(48, 48, 48)))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"shape": (40, 64, 64)}, r"shape must be 48\.\.256 voxels per axis .* got \[40, 64, 64\]"),
        ({"shape": (64, 64)}, r"shape and spacing must have 3 entries"),
        ({"spacing": (2.0, 0.0, 2.0)}, r"spacing must be positive millimetres, got \[2.0, 0.0"),
        ({"noise": -0.1}, r"noise must be in \[0, 0.5\], got -0.1"),
    ],
)
def test_spec_refuses_what_the_anatomy_cannot_fit(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PhantomSpec(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_cases": 0}, r"n_cases must be >= 1, got 0"),
        (
            {"n_cases": 1, "layout": "bids"},
            r"layout must be one of \['msd', 'nnunet'\], got 'bids'",
        ),
    ],
)
def test_dataset_refuses_bad_arguments(
    tmp_path: Path, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        generate_phantom_dataset(tmp_path / "ds", seed=0, **kwargs)
    assert not (tmp_path / "ds").exists()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"shape": (64, 40, 64)}, r"shape \[64, 40, 64\] must be at least 48 voxels per axis"),
        ({"shape": (64, 64, 512)}, r"shape\.2\n.*less than or equal to 256"),
        ({"spacing": (2.0, -1.0, 2.0)}, r"spacing\.1\n.*greater than 0"),
        ({"layout": "bids"}, r"layout\n.*'msd' or 'nnunet'"),
        ({"noise": 0.9}, r"noise\n.*less than or equal to 0.5"),
        ({"n_cases": 2}, r"n_cases\n.*greater than or equal to 4"),
    ],
)
def test_settings_name_the_bad_synthetic_field(values: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        SyntheticDataSettings(**values)


def test_settings_defaults_make_a_valid_spec() -> None:
    settings = SyntheticDataSettings()
    spec = PhantomSpec(shape=settings.shape, spacing=settings.spacing, noise=settings.noise)

    assert spec == PhantomSpec()
    assert settings.layout == "msd"
