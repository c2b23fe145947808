"""ct-seg's real config files load, and bad values stop with file and key."""

from __future__ import annotations

import pytest

from ct_seg import settings as config
from ct_seg.data.dataset import prepare_dataset
from medai.config import ConfigError


def test_development_config_is_the_default_and_loads():
    settings = config.load(environ={})
    assert settings.environment == "development"
    assert settings.project == "ct-seg"
    assert settings.train.epochs == 40  # development.yaml overrides base.yaml's 60
    assert settings.model.channels == (16, 32, 64, 128)  # from model_configs/ct-seg.yaml
    assert settings.api.port == 8000  # from api_configs/fastapi.yaml
    assert settings.docker.image == "medai/ct-seg"  # from api_configs/docker.yaml


def test_production_config_loads_with_its_larger_model(tmp_path):
    settings = config.load([f"data.dataset_dir={tmp_path}"], environ={"MEDAI_ENV": "production"})
    assert settings.environment == "production"
    assert settings.model.channels == (32, 64, 128, 256, 320)
    assert settings.preprocessing.patch_size == (96, 96, 96)


def test_environment_variable_and_set_override_in_that_order():
    environ = {"MEDAI__TRAIN__EPOCHS": "3"}
    assert config.load(environ=environ).train.epochs == 3
    assert config.load(["train.epochs=4"], environ=environ).train.epochs == 4


def test_wrong_type_names_the_override_and_key():
    with pytest.raises(ConfigError) as caught:
        config.load(["train.batch_size=two"], environ={})
    assert str(caught.value).startswith("--set train.batch_size=two: train.batch_size:")
    assert "\n" not in str(caught.value)


def test_misspelt_key_from_environment_is_named_with_a_suggestion():
    with pytest.raises(
        ConfigError, match=r"MEDAI__TRAIN__EPOCH: train.epoch: unknown key; did you mean 'epochs'"
    ):
        config.load(environ={"MEDAI__TRAIN__EPOCH": "3"})


def test_patch_not_divisible_by_network_strides_is_refused():
    with pytest.raises(ConfigError, match=r"patch_size \(36, 64, 64\) must be divisible by 8"):
        config.load(["preprocessing.patch_size=[36, 64, 64]"], environ={})


def test_inverted_hu_window_is_refused():
    with pytest.raises(ConfigError, match=r"hu_min .* must be below hu_max"):
        config.load(["preprocessing.hu_min=400"], environ={})


def test_production_refuses_to_fall_back_to_synthetic_data():
    settings = config.load(environ={"MEDAI_ENV": "production"})  # a server needs no dataset
    with pytest.raises(ConfigError, match=r"dataset_dir: required in the 'production' environment"):
        prepare_dataset(settings)
