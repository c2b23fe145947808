"""cxr-cls's data sources on real files: synthetic, CheXpert and NIH CSVs, MedMNIST."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from cxr_cls.data.synthetic import FINDINGS
from cxr_cls.settings import BINDING, PROJECT
from medai.data import LabelCsvError, check_no_group_leak

NIH_NAMES = ["Cardiomegaly", "Effusion", "Nodule", "Pneumothorax"]


def test_the_synthetic_sample_is_generated_under_data_raw_and_split_by_patient(
    tiny_dataset, tmp_path
):
    data = tiny_dataset

    assert data.root == tmp_path / "data" / "raw" / "synthetic-cxr"
    assert data.labels == FINDINGS
    assert {item.path.suffix for item in data.items} == {".png", ".dcm"}
    groups = {item.item_id: item.patient_id for item in data.items}
    check_no_group_leak(data.split, groups)
    assert len({groups[i] for i in data.split.validation}) == 4  # a quarter of 16 patients
    recorded = tmp_path / "data" / "processed" / "synthetic-cxr" / "split.json"
    assert json.loads(recorded.read_text())["train"] == list(data.split.train)


def test_uncertain_synthetic_labels_are_unknown_not_negative(tiny_dataset):
    # The generator writes -1 for about 5% of labels; the default policy is 'ignore'.
    rows = list(csv.reader((tiny_dataset.root / "labels.csv").read_text().splitlines()))
    uncertain = {(row[0], k) for row in rows[1:] for k, v in enumerate(row[1:]) if v == "-1.0"}
    assert uncertain
    by_id = {item.item_id: item for item in tiny_dataset.items}
    for item_id, k in uncertain:
        assert math.isnan(by_id[item_id].labels[k])


def write_nih_csv(data, path, findings_of=None):
    """The synthetic images listed in the NIH ChestX-ray14 layout."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Image Index", "Finding Labels", "Follow-up #", "Patient ID"])
        for item in data.items:
            present = [n for n, v in zip(NIH_NAMES, item.labels, strict=True) if v == 1]
            findings = findings_of(item) if findings_of else "|".join(present) or "No Finding"
            writer.writerow([item.item_id, findings, 0, item.patient_id])
    return path


def nih_dataset(tiny_dataset, csv_path, data_root):
    """Load ``csv_path`` as an NIH ChestX-ray14 list of the tiny dataset's images."""
    overrides = {
        "data.root": str(data_root),
        "data.source": "csv",
        "data.csv.path": str(csv_path),
        "data.csv.image_root": str(tiny_dataset.root),
        "data.csv.layout": "nih",
        "data.labels": json.dumps(NIH_NAMES),
    }
    settings = BINDING.load([f"{k}={v}" for k, v in overrides.items()], environ={})
    return PROJECT.load_data(settings)


def test_an_nih_layout_csv_reads_the_same_images_and_findings(tiny_dataset, tmp_path):
    nih = write_nih_csv(tiny_dataset, tmp_path / "Data_Entry.csv")

    data = nih_dataset(tiny_dataset, nih, tmp_path / "data")

    assert data.labels == tuple(NIH_NAMES)
    assert [i.item_id for i in data.items] == [i.item_id for i in tiny_dataset.items]
    for ours, theirs in zip(data.items, tiny_dataset.items, strict=True):
        known = [k for k, v in enumerate(theirs.labels) if not math.isnan(v)]
        assert [ours.labels[k] for k in known] == [theirs.labels[k] for k in known]


def test_an_unknown_nih_finding_is_refused_with_its_line(tiny_dataset, tmp_path):
    first = tiny_dataset.items[0].item_id
    nih = write_nih_csv(
        tiny_dataset,
        tmp_path / "bad.csv",
        findings_of=lambda item: "Cardiomegally" if item.item_id == first else "No Finding",
    )
    with pytest.raises(
        LabelCsvError, match=r"bad.csv: line 2, column 'Finding Labels': unknown finding 'Cardiom"
    ):
        nih_dataset(tiny_dataset, nih, tmp_path / "data")


def test_a_chexpert_label_that_is_not_1_0_or_minus_1_is_refused(tiny_dataset, tmp_path):
    lines = (tiny_dataset.root / "labels.csv").read_text().splitlines()
    cells = lines[5].split(",")
    cells[3] = "2.0"  # the nodule column
    lines[5] = ",".join(cells)
    broken = tiny_dataset.root / "broken.csv"
    broken.write_text("\n".join(lines) + "\n")
    overrides = [f"data.root={tmp_path / 'data'}", "data.source=csv", f"data.csv.path={broken}"]

    with pytest.raises(LabelCsvError, match=r"line 6, column 'nodule': expected 1, 0, -1 or blank"):
        PROJECT.load_data(BINDING.load(overrides, environ={}))


def test_a_medmnist_file_is_read_with_its_official_split(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {}
    for split, count in (("train", 12), ("val", 4), ("test", 6)):
        arrays[f"{split}_images"] = rng.integers(0, 256, (count, 28, 28), dtype=np.uint8)
        arrays[f"{split}_labels"] = rng.integers(0, 2, (count, 4), dtype=np.uint8)
    npz = tmp_path / "chestmnist_28.npz"
    np.savez(npz, **arrays)
    overrides = [
        f"data.root={tmp_path / 'data'}",
        "data.source=medmnist",
        f"data.medmnist.path={npz}",
    ]

    data = PROJECT.load_data(BINDING.load(overrides, environ={}))

    assert (len(data.training_items()), len(data.validation_items())) == (12, 4)
    assert data.evaluation_split == "test"
    assert len(data.evaluation_items()) == 6
