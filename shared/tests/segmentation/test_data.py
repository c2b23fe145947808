"""The usual data source: the configured dataset folder, else generated data, and its split."""

from __future__ import annotations

import json
import shutil
from hashlib import sha256

import pytest

from medai.config import ConfigError
from medai.segmentation.data import GeneratedData


def test_generated_data_is_written_once_and_split_by_case(demo):
    settings = demo.load()
    raw = demo.root / "projects" / "sphere-seg" / "data" / "raw"

    first = demo.project.load_data(settings)
    written = {p: p.stat().st_mtime_ns for p in raw.rglob("*.nii.gz")}
    second = demo.project.load_data(settings)

    assert first.dataset.root.parent == raw
    assert first.dataset.root.name.startswith("spheres-")
    assert {p: p.stat().st_mtime_ns for p in raw.rglob("*.nii.gz")} == written, "regenerated"
    assert second.split == first.split
    assert first.labels == {0: "background", 1: "sphere"}
    train_ids = {c.case_id for c in first.training_cases()}
    val_ids = {c.case_id for c in first.validation_cases()}
    assert train_ids.isdisjoint(val_ids)
    assert len(train_ids | val_ids) == 4
    record = demo.root / "projects/sphere-seg/data/processed" / first.dataset.root.name
    assert set(json.loads((record / "split.json").read_text())["validation"]) == val_ids


def test_a_setting_that_changes_the_content_gets_a_new_folder(demo):
    small = demo.project.load_data(demo.load("data.edge=16"))
    large = demo.project.load_data(demo.load("data.edge=20"))
    assert small.dataset.root != large.dataset.root


def test_the_folder_name_hashes_the_key(tmp_path):
    def generated(key):
        return GeneratedData("synthetic-ct", key, write=lambda _: None)

    assert generated([1, (2, 3)]).folder(tmp_path) == generated([1, [2, 3]]).folder(tmp_path)
    assert generated([1]).folder(tmp_path) != generated([2]).folder(tmp_path)
    assert generated([1]).folder(tmp_path).name == "synthetic-ct-" + sha256(b"[1]").hexdigest()[:10]


def test_a_configured_dataset_folder_is_used_instead(demo, tmp_path):
    generated = demo.project.load_data(demo.load()).dataset.root
    mine = tmp_path / "MyDataset"
    shutil.copytree(generated, mine)

    data = demo.project.load_data(demo.load(f"data.dataset_dir={mine}"))

    assert data.dataset.root == mine


def test_production_refuses_to_fall_back_to_generated_data(demo):
    settings = demo.load(env="production")  # loading settings needs no dataset
    with pytest.raises(ConfigError, match=r"dataset_dir: required in the 'production' environment"):
        demo.project.load_data(settings)


def test_manifests_cover_the_whole_dataset_or_the_given_cases(demo):
    data = demo.project.load_data(demo.load())
    whole = data.manifest()
    validation = data.manifest(data.validation_cases())

    assert "dataset.json" in {e.relative_path for e in whole.entries}
    assert len(whole.entries) == 1 + 2 * 4
    assert len(validation.entries) == 2 * len(data.validation_cases())
    assert whole.digest != validation.digest
