"""Tests of the synthetic chest X-ray generator: real files, real loaders, visible findings."""

from __future__ import annotations

import csv
import math
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pydicom
import pytest
from scipy import ndimage

from cxr_cls.data.synthetic import (
    FINDINGS,
    GENERATOR_VERSION,
    LABELS_FILE,
    STAMP_FILE,
    generate_dataset,
    patient_folder,
    render_image,
)
from medai.data.labels import LabelledImage, read_label_csv
from medai.io import read_radiograph

N_PATIENTS = 30
SIZE = 64
SEED = 7


def _generate(root: Path, **kwargs: object) -> Path:
    arguments: dict[str, object] = {"n_patients": N_PATIENTS, "size": SIZE, "seed": SEED}
    arguments.update(kwargs)
    return generate_dataset(root, **arguments)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _generate(tmp_path_factory.mktemp("cxr") / "synthetic")


@pytest.fixture(scope="module")
def images(dataset: Path) -> list[LabelledImage]:
    return read_label_csv(
        dataset / LABELS_FILE,
        image_root=dataset,
        label_names=FINDINGS,
        layout="chexpert",
        uncertain="ignore",
    )


def _files(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def _csv_rows(root: Path) -> list[dict[str, str]]:
    with (root / LABELS_FILE).open(encoding="utf-8", newline="") as stream:
        return list(csv.DictReader(stream))


def _auroc(scores: npt.NDArray[np.float64], positive: npt.NDArray[np.bool_]) -> float:
    """Probability that a random positive scores above a random negative (ties count half)."""
    pos, neg = scores[positive][:, None], scores[~positive][None, :]
    return float(np.mean(pos > neg) + 0.5 * np.mean(pos == neg))


# --- files on disk ---------------------------------------------------------------------------


def test_same_seed_gives_the_same_bytes_and_another_seed_does_not(
    dataset: Path, tmp_path: Path
) -> None:
    again = _files(_generate(tmp_path / "again"))
    other = _files(_generate(tmp_path / "other", seed=SEED + 1))

    assert again == _files(dataset)
    assert other[LABELS_FILE] != again[LABELS_FILE]


def test_a_patients_images_do_not_depend_on_how_many_patients_are_generated(
    dataset: Path, tmp_path: Path
) -> None:
    small = _files(_generate(tmp_path / "small", n_patients=3))
    full = _files(dataset)

    image_files = [name for name in small if name.startswith("images/")]
    assert image_files
    assert all(small[name] == full[name] for name in image_files)


def test_layout_is_chexpert_with_patient_folders(dataset: Path) -> None:
    rows = _csv_rows(dataset)

    assert list(rows[0]) == ["Path", *FINDINGS]
    assert all(row["Path"].startswith("images/patient") for row in rows)
    assert {Path(row["Path"]).parent.name for row in rows} == {
        patient_folder(p) for p in range(N_PATIENTS)
    }
    values = {row[name] for row in rows for name in FINDINGS}
    assert values == {"1.0", "0.0", "-1.0", ""}  # uncertain and "not mentioned" both occur


def test_every_image_loads_with_the_shared_readers(
    dataset: Path, images: list[LabelledImage]
) -> None:
    assert len(images) == len(_csv_rows(dataset))
    per_patient: dict[str, int] = {}
    formats = set()
    for image in images:
        per_patient[image.patient_id] = per_patient.get(image.patient_id, 0) + 1
        radiograph = read_radiograph(image.path)
        assert radiograph.shape == (SIZE, SIZE)
        assert image.path.suffix == {"dicom": ".dcm", "png": ".png"}[radiograph.source_format]
        formats.add(radiograph.source_format)
        if radiograph.source_format == "dicom":
            assert radiograph.spacing_mm == pytest.approx((430 / SIZE, 430 / SIZE), abs=1e-4)
    assert formats == {"dicom", "png"}
    assert sorted(per_patient) == [patient_folder(p) for p in range(N_PATIENTS)]
    assert set(per_patient.values()) <= {1, 2, 3}
    assert len(set(per_patient.values())) > 1


def test_dicom_files_are_12_bit_dx_in_both_photometric_interpretations_without_real_phi(
    dataset: Path,
) -> None:
    headers = [pydicom.dcmread(path) for path in sorted(dataset.rglob("*.dcm"))]

    assert {h.PhotometricInterpretation for h in headers} == {"MONOCHROME1", "MONOCHROME2"}
    for header in headers:
        assert header.Modality == "DX"
        assert header.BitsStored == 12
        assert int(header.pixel_array.max()) <= 4095
        assert "WindowCenter" in header
        assert "WindowWidth" in header
        assert header.PatientID.startswith("SYN")
        assert "PatientBirthDate" not in header


@pytest.mark.parametrize("file_format", ["dicom", "png"])
def test_files_hold_the_rendered_pixels_whatever_the_format(
    images: list[LabelledImage], file_format: str
) -> None:
    suffix = {"dicom": ".dcm", "png": ".png"}[file_format]
    image = next(image for image in images if image.path.suffix == suffix)
    patient = int(image.patient_id.removeprefix("patient"))
    number = int(image.path.stem.removeprefix("study").split("_")[0]) - 1

    rendered = render_image(patient, number, seed=SEED, size=SIZE).pixels
    read = read_radiograph(image.path).pixels

    # PNG rounds to 8 bits; DICOM to 12 bits over part of the range, then goes through the window.
    np.testing.assert_allclose(read, rendered, atol=0.5 / 255 + 1e-6)


def test_csv_labels_are_the_drawn_findings_except_where_uncertain(
    images: list[LabelledImage],
) -> None:
    for image in images:
        patient = int(image.patient_id.removeprefix("patient"))
        number = int(image.path.stem.removeprefix("study").split("_")[0]) - 1
        drawn = render_image(patient, number, seed=SEED, size=32)
        for label, present, reported in zip(
            image.labels, drawn.findings, drawn.reported, strict=True
        ):
            if reported == -1.0:
                assert math.isnan(label)
            else:
                assert label == float(present) == reported


def test_dicom_fraction_zero_and_one_give_one_format(tmp_path: Path) -> None:
    none = _generate(tmp_path / "png", n_patients=4, dicom_fraction=0.0)
    every = _generate(tmp_path / "dcm", n_patients=4, dicom_fraction=1.0)

    assert not list(none.rglob("*.dcm"))
    assert not list(every.rglob("*.png"))
    assert list(every.rglob("*.dcm"))


# --- idempotence -----------------------------------------------------------------------------


def test_an_existing_dataset_with_the_same_parameters_is_reused(tmp_path: Path) -> None:
    root = _generate(tmp_path / "ds", n_patients=3)
    marker = root / "images" / "marker.txt"
    marker.write_text("kept", encoding="utf-8")

    assert _generate(root, n_patients=3) == root

    assert marker.read_text(encoding="utf-8") == "kept"  # nothing was rewritten


def test_a_dataset_made_with_other_parameters_is_replaced(tmp_path: Path) -> None:
    root = _generate(tmp_path / "ds", n_patients=3)

    _generate(root, n_patients=5)

    stamp = (root / STAMP_FILE).read_text(encoding="utf-8")
    assert '"n_patients": 5' in stamp
    assert f'"generator_version": "{GENERATOR_VERSION}"' in stamp
    assert len({row["Path"].split("/")[1] for row in _csv_rows(root)}) == 5
    assert [p.name for p in tmp_path.iterdir()] == ["ds"]  # no staging or retired folder left


def test_a_folder_that_is_not_a_generated_dataset_is_never_overwritten(tmp_path: Path) -> None:
    root = tmp_path / "precious"
    root.mkdir()
    (root / "labels.csv").write_text("Path,x\n", encoding="utf-8")

    with pytest.raises(FileExistsError, match="is not a generated dataset"):
        _generate(root, n_patients=2)

    assert (root / "labels.csv").read_text(encoding="utf-8") == "Path,x\n"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_patients": 0}, "n_patients must be >= 1"),
        ({"images_per_patient": (2, 1)}, "images_per_patient must be"),
        ({"images_per_patient": (0, 1)}, "images_per_patient must be"),
        ({"size": 16}, "size must be >= 32"),
        ({"dicom_fraction": 1.5}, r"dicom_fraction must be in \[0, 1\]"),
    ],
)
def test_out_of_range_parameters_are_refused_before_writing(
    tmp_path: Path, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        _generate(tmp_path / "ds", **kwargs)
    assert not list(tmp_path.iterdir())


# --- what the images show --------------------------------------------------------------------


@pytest.fixture(scope="module")
def rendered() -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_], npt.NDArray[np.float64]]:
    """160 patients' first images at 64 px, each stretched to its own 2-98th percentile."""
    drawn = [render_image(patient, 0, seed=11, size=SIZE) for patient in range(160)]
    pixels = np.stack([image.pixels for image in drawn]).astype(np.float64)
    low, high = np.percentile(pixels.reshape(len(pixels), -1), [2, 98], axis=1)
    stretched = (pixels - low[:, None, None]) / (high - low)[:, None, None]
    findings = np.array([image.findings for image in drawn])
    reported = np.array([image.reported for image in drawn])
    return stretched, findings, reported


def test_each_finding_has_a_prevalence_near_30_percent_and_5_percent_are_uncertain(
    rendered: tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_], npt.NDArray[np.float64]],
) -> None:
    _, findings, reported = rendered

    assert np.all((findings.mean(axis=0) > 0.2) & (findings.mean(axis=0) < 0.4))
    assert 0.02 < np.mean(reported == -1.0) < 0.09
    # Independent: no pair of findings co-occurs much more or less than chance.
    correlation = np.corrcoef(findings.T.astype(float))
    assert np.abs(correlation[np.triu_indices(len(FINDINGS), 1)]).max() < 0.25


def _box(images: npt.NDArray[np.float64], rows: tuple[float, float], cols: tuple[float, float]):
    r0, r1, c0, c1 = (int(edge * SIZE) for edge in (*rows, *cols))
    return images[:, r0:r1, c0:c1]


def test_cardiomegaly_brightens_the_lung_beside_the_heart(
    rendered: tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_], npt.NDArray[np.float64]],
) -> None:
    images, findings, _ = rendered
    beside_heart = _box(images, (0.55, 0.72), (0.6, 0.7)).mean(axis=(1, 2))

    assert _auroc(beside_heart, findings[:, 0]) > 0.85


def test_effusion_brightens_a_costophrenic_angle(
    rendered: tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_], npt.NDArray[np.float64]],
) -> None:
    images, findings, _ = rendered
    right = _box(images, (0.6, 0.72), (0.14, 0.3)).mean(axis=(1, 2))
    left = _box(images, (0.6, 0.72), (0.7, 0.86)).mean(axis=(1, 2))

    assert _auroc(np.maximum(right, left), findings[:, 1]) > 0.8


def test_nodule_adds_a_small_bright_spot_in_a_lung(
    rendered: tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_], npt.NDArray[np.float64]],
) -> None:
    images, findings, _ = rendered
    spots = np.stack([image - ndimage.gaussian_filter(image, 2.5) for image in images])
    lungs = _box(spots, (0.15, 0.8), (0.1, 0.9)).copy()
    lungs[:, :, int(0.32 * SIZE) : int(0.48 * SIZE)] = 0  # the mediastinum's edges are bright too

    assert _auroc(lungs.max(axis=(1, 2)), findings[:, 2]) > 0.65


def test_pneumothorax_darkens_the_upper_chest(
    rendered: tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_], npt.NDArray[np.float64]],
) -> None:
    images, findings, _ = rendered
    lung = np.median(_box(images, (0.3, 0.5), (0.25, 0.4)).reshape(len(images), -1), axis=1)
    air = np.median(_box(images, (0.9, 1.0), (0.0, 0.05)).reshape(len(images), -1), axis=1)
    # Darker than halfway from the lung's grey to the air outside the body.
    threshold = (air + 0.5 * (lung - air))[:, None, None]
    dark = (_box(images, (0.15, 0.6), (0.12, 0.88)) < threshold).mean(axis=(1, 2))

    assert _auroc(dark, findings[:, 3]) > 0.7


@pytest.mark.slow
def test_400_images_at_128_px_take_under_10_cpu_seconds(tmp_path: Path) -> None:
    started = time.process_time()

    root = generate_dataset(tmp_path / "ds", n_patients=200, size=128, seed=0)

    assert len(_csv_rows(root)) >= 380
    assert time.process_time() - started < 10.0
