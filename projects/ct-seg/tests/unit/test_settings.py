"""ct-seg's real config files load, and bad values stop with file and key."""

from __future__ import annotations

import pytest

from ct_seg.settings import BINDING, PROJECT, CtSegSettings
from medai.config import ConfigError


def test_development_config_is_the_default_and_loads():
    settings = BINDING.load(environ={})
    assert settings.environment == "development"
    assert settings.project == "ct-seg"
    assert settings.train.epochs == 40  # development.yaml overrides base.yaml's 60
    assert settings.model.channels == (16, 32, 64, 128)  # from model_configs/ct-seg.yaml
    assert settings.api.port == 8000  # from api_configs/fastapi.yaml
    assert settings.docker.image == "medai/ct-seg"  # from api_configs/docker.yaml


def test_production_config_loads_with_its_larger_model(tmp_path):
    settings = BINDING.load([f"data.dataset_dir={tmp_path}"], environ={"MEDAI_ENV": "production"})
    assert settings.environment == "production"
    assert settings.model.channels == (32, 64, 128, 256, 320)
    assert settings.preprocessing.patch_size == (96, 96, 96)


def test_environment_variable_and_set_override_in_that_order():
    environ = {"MEDAI__TRAIN__EPOCHS": "3"}
    assert BINDING.load(environ=environ).train.epochs == 3
    assert BINDING.load(["train.epochs=4"], environ=environ).train.epochs == 4


def test_wrong_type_names_the_override_and_key():
    with pytest.raises(ConfigError) as caught:
        BINDING.load(["train.batch_size=two"], environ={})
    assert str(caught.value).startswith("--set train.batch_size=two: train.batch_size:")
    assert "\n" not in str(caught.value)


def test_misspelt_key_from_environment_is_named_with_a_suggestion():
    with pytest.raises(
        ConfigError, match=r"MEDAI__TRAIN__EPOCH: train.epoch: unknown key; did you mean 'epochs'"
    ):
        BINDING.load(environ={"MEDAI__TRAIN__EPOCH": "3"})


def test_patch_not_divisible_by_network_strides_is_refused():
    with pytest.raises(ConfigError, match=r"patch_size \(36, 64, 64\) must be divisible by 8"):
        BINDING.load(["preprocessing.patch_size=[36, 64, 64]"], environ={})


def test_inverted_hu_window_is_refused():
    with pytest.raises(ConfigError, match=r"intensity_min .* must be below intensity_max"):
        BINDING.load(["preprocessing.intensity_min=400"], environ={})


def test_phantoms_too_small_for_the_anatomy_are_refused():
    with pytest.raises(ConfigError, match=r"must leave at least 32 voxels per axis"):
        BINDING.load(["data.synthetic.shape=[36, 64, 64]"], environ={})


def test_production_refuses_to_fall_back_to_synthetic_data():
    settings = BINDING.load(environ={"MEDAI_ENV": "production"})  # a server needs no dataset
    with pytest.raises(ConfigError, match=r"dataset_dir: required in the 'production' environment"):
        PROJECT.load_data(settings)


def test_without_a_dataset_the_ct_phantoms_are_generated_under_data_raw(tmp_path):
    overrides = [
        f"data.root={tmp_path}",
        "data.synthetic.n_cases=4",
        "data.synthetic.shape=[32, 32, 32]",
        "data.synthetic.shape_jitter=0",
    ]
    data = PROJECT.load_data(BINDING.load(overrides, environ={}))

    assert data.dataset.root.parent == tmp_path / "raw"
    assert data.dataset.root.name.startswith("synthetic-ct-")
    assert data.labels == {0: "background", 1: "organ", 2: "lesion"}
    assert data.dataset.modality == "CT"
    assert len(data.training_cases()) + len(data.validation_cases()) == 4
    assert (tmp_path / "processed" / data.dataset.root.name / "split.json").is_file()


def test_the_settings_type_and_project_name():
    assert BINDING.settings_type is CtSegSettings
    assert PROJECT.name == "ct-seg"
    assert PROJECT.modality == "CT"
