"""The kit's data layer: sample, CSV and MedMNIST sources, patient splits, arrays from files."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from medai.classification.data import (
    RadiographItem,
    label_matrix,
    load_radiograph_data,
    read_items,
)
from medai.classification.prepared import ImagePreparation, check_radiographs
from medai.config import ConfigError
from medai.data import DatasetError, LabelCsvError
from medai.io import MedicalImageError, RadiographLimits


def test_the_sample_is_written_once_and_split_by_patient(demo):
    settings = demo.load()
    data = demo.project.load_data(settings)
    again = demo.project.load_data(settings)

    assert data.labels == ("square", "bar")
    assert len(data.items) == 48
    assert data.split == again.split
    patients = {item.item_id: item.patient_id for item in data.items}
    train = {patients[i] for i in data.split.train}
    validation = {patients[i] for i in data.split.validation}
    assert train
    assert validation
    assert not train & validation
    assert len(validation) == round(24 * 0.2)
    recorded = demo.root / "projects/shape-cls/data/processed/shapes/split.json"
    assert json.loads(recorded.read_text())["validation"] == list(data.split.validation)
    assert data.evaluation_split == "validation"
    assert data.evaluation_items() == data.validation_items()


def test_uncertain_labels_are_unknown_under_the_ignore_policy(demo):
    data = demo.project.load_data(demo.load())
    uncertain = next(i for i in data.items if i.item_id == "images/patient00001/study1.png")
    assert math.isnan(uncertain.labels[1])

    zeros = demo.project.load_data(demo.load("data.csv.uncertain=zeros"))
    assert next(i for i in zeros.items if i.item_id == uncertain.item_id).labels[1] == 0.0


def test_the_manifest_hashes_the_csv_and_every_image(demo):
    data = demo.project.load_data(demo.load())
    manifest = data.manifest()
    paths = {entry.relative_path for entry in manifest.entries}

    assert "labels.csv" in paths
    assert len(paths) == len(data.items) + 1
    subset = data.manifest(data.validation_items())
    assert len(subset.entries) == len(data.validation_items()) + 1
    assert subset.digest != manifest.digest


def test_prepared_items_are_resized_images_with_their_labels(demo):
    settings = demo.load()
    data = demo.project.load_data(settings)
    items = data.training_items()[:5]
    preparation = ImagePreparation(settings.preprocessing, settings.radiograph.limits())

    prepared = check_radiographs(items, preparation)

    assert len(prepared) == len(items)
    for (image, labels), item in zip(prepared, items, strict=True):
        assert image.shape == (32, 32)
        assert image.dtype == np.float32
        assert 0.0 <= image.min() <= image.max() <= 1.0
        np.testing.assert_array_equal(labels, np.asarray(item.labels, dtype=np.float32))
    np.testing.assert_array_equal(label_matrix(items), [item.labels for item in items])


def test_monochrome1_dicom_reads_bright_where_the_png_would(demo):
    data = demo.project.load_data(demo.load())
    limits = RadiographLimits()
    inverted = next(i for i in data.items if i.item_id == "images/patient00005/study1.dcm")
    plain = next(i for i in data.items if i.item_id == "images/patient00000/study1.dcm")

    for item in (inverted, plain):
        (radiograph,) = read_items([item], limits)
        assert radiograph.source_format == "dicom"
        # Background noise is dark (below 80/255) in every file, whatever its convention.
        assert np.median(radiograph.pixels) < 0.35


def test_an_unreadable_image_names_its_file(demo):
    settings = demo.load()
    data = demo.project.load_data(settings)
    broken = data.training_items()[0]
    assert broken.path is not None
    broken.path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)

    preparation = ImagePreparation(settings.preprocessing, RadiographLimits())
    with pytest.raises(MedicalImageError, match=rf"{broken.path.name}: has a PNG header"):
        check_radiographs(data.training_items(), preparation)


def test_a_csv_row_naming_a_missing_image_is_refused_with_its_line(demo):
    data = demo.project.load_data(demo.load())
    csv_path = data.root / "labels.csv"
    lines = csv_path.read_text().splitlines()
    lines[3] = "images/patient99999/gone.png,1.0,0.0"
    csv_path.write_text("\n".join(lines) + "\n")

    with pytest.raises(LabelCsvError, match=r"line 4, column 'Path': image .*gone.png' does not"):
        demo.project.load_data(demo.load())


def test_a_csv_source_needs_its_path(demo):
    with pytest.raises(ConfigError, match=r"^data.csv.path: required when data.source is 'csv'"):
        demo.project.load_data(demo.load("data.source=csv"))


def test_a_csv_source_reads_a_label_csv_from_its_own_folder(demo):
    sample = demo.project.load_data(demo.load()).root
    settings = demo.load("data.source=csv", f"data.csv.path={sample / 'labels.csv'}")

    data = demo.project.load_data(settings)

    assert data.root == sample
    assert len(data.items) == 48


def test_production_refuses_the_synthetic_sample(demo):
    settings = demo.load(env="production")  # loading the config needs no data
    with pytest.raises(ConfigError, match=r"data.source: 'synthetic' is refused in the 'product"):
        demo.project.load_data(settings)


def write_medmnist(path, n=(20, 6, 8), labels=2, edge=28):
    rng = np.random.default_rng(0)
    arrays = {}
    for split, count in zip(("train", "val", "test"), n, strict=True):
        arrays[f"{split}_images"] = rng.integers(0, 256, (count, edge, edge), dtype=np.uint8)
        arrays[f"{split}_labels"] = rng.integers(0, 2, (count, labels), dtype=np.uint8)
    np.savez(path, **arrays)
    return path


def test_medmnist_keeps_its_official_split_and_is_evaluated_on_test(demo, tmp_path):
    npz = write_medmnist(tmp_path / "shapemnist.npz")
    settings = demo.load("data.source=medmnist", f"data.medmnist.path={npz}")

    data = load_radiograph_data(demo.binding, settings, settings.data)

    assert (len(data.split.train), len(data.split.validation), len(data.test)) == (20, 6, 8)
    assert data.evaluation_split == "test"
    assert [i.item_id for i in data.evaluation_items()][:2] == ["test/000000", "test/000001"]
    first = data.training_items()[0]
    assert first.patient_id is None
    assert first.path is None
    (radiograph,) = read_items([first], RadiographLimits(min_size=8))
    assert radiograph.shape == (28, 28)
    assert [e.relative_path for e in data.manifest().entries] == ["shapemnist.npz"]


def test_medmnist_with_another_label_count_is_refused(demo, tmp_path):
    npz = write_medmnist(tmp_path / "wide.npz", labels=3)
    settings = demo.load("data.source=medmnist", f"data.medmnist.path={npz}")
    with pytest.raises(DatasetError, match=r"wide.npz: holds 3 labels per image but data.labels"):
        demo.project.load_data(settings)


def test_a_medmnist_source_needs_its_path(demo):
    with pytest.raises(ConfigError, match=r"^data.medmnist.path: required"):
        demo.project.load_data(demo.load("data.source=medmnist"))


def test_an_item_without_a_file_is_read_from_its_pixels():
    pixels = np.full((40, 40), 255, dtype=np.uint8)
    item = RadiographItem("train/000001", (1.0,), pixels=pixels)
    assert item.read(RadiographLimits()).pixels.max() == pytest.approx(1.0)
