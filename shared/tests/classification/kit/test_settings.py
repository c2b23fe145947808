"""The kit's config sections: checked once at load, with file and key in every message."""

from __future__ import annotations

import pytest

from medai.classification.settings import (
    RADIOGRAPH_MODALITIES,
    EvaluateSettings,
    ModelSettings,
    PreprocessingSettings,
    RadiographSettings,
    preprocessing_of,
)
from medai.config import ConfigError
from medai.io import RADIOGRAPH_MODALITIES as READER_MODALITIES


def test_the_demo_config_loads_with_its_layers(demo):
    settings = demo.load()

    assert settings.project == "shape-cls"
    assert settings.preprocessing.image_size == 32
    assert settings.model.block_config == (2, 2)
    assert settings.model.downsampling == 8
    assert settings.data.labels == ("square", "bar")


def test_an_image_too_small_for_the_network_is_refused_naming_both_keys(demo):
    with pytest.raises(ConfigError, match=r"image_size 24 gives 1x1 feature maps.*at least 32"):
        demo.load("preprocessing.image_size=24", "model.block_config=[2, 2, 2]")


def test_downsampling_follows_the_dense_blocks():
    assert ModelSettings(block_config=(4, 4, 4)).downsampling == 16
    assert ModelSettings(block_config=(4, 8, 8, 6)).downsampling == 32
    assert ModelSettings(block_config=(3,)).downsampling == 4


def test_an_empty_dense_block_is_refused(demo):
    with pytest.raises(ConfigError, match=r"model.block_config: every dense block needs"):
        demo.load("model.block_config=[2, 0]")


def test_one_threshold_applies_to_every_label():
    assert EvaluateSettings(thresholds=0.3).thresholds_for(["a", "b"]) == {"a": 0.3, "b": 0.3}


def test_per_label_thresholds_must_name_every_label_once():
    evaluate = EvaluateSettings(thresholds={"a": 0.2, "c": 0.9})
    with pytest.raises(ConfigError, match=r"thresholds: .*missing \['b'\], unknown \['c'\]"):
        evaluate.thresholds_for(["a", "b"])
    assert EvaluateSettings(thresholds={"b": 0.7, "a": 0.2}).thresholds_for(["a", "b"]) == {
        "a": 0.2,
        "b": 0.7,
    }


def test_a_threshold_outside_zero_one_is_refused_at_load(demo):
    with pytest.raises(ConfigError, match=r"evaluate.thresholds: thresholds must be probabilities"):
        demo.load('evaluate.thresholds={"square": 1.5, "bar": 0.5}')


def test_labels_that_would_give_the_same_metric_name_are_refused(demo):
    with pytest.raises(ConfigError, match=r"data.labels: labels 'square' and 'Square' name"):
        demo.load('data.labels=["square", "Square"]')


def test_radiograph_limits_reach_the_reader():
    limits = RadiographSettings(min_size=64, max_pixels=10_000, allowed_modalities=("DX",)).limits()
    assert (limits.min_size, limits.max_pixels, limits.allowed_modalities) == (64, 10_000, ("DX",))
    assert RADIOGRAPH_MODALITIES == READER_MODALITIES


def test_unsatisfiable_radiograph_limits_are_refused(demo):
    with pytest.raises(ConfigError, match=r"max_pixels \(100\) must be at least min_size\*\*2"):
        demo.load("radiograph.max_pixels=100")


def test_stored_preprocessing_wins_over_the_config(demo):
    settings = demo.load()
    stored = PreprocessingSettings(image_size=48, standardize=True)

    assert preprocessing_of(stored.model_dump_json(), settings, "m v1") == stored
    assert preprocessing_of(stored.model_dump(), settings, "m v1") == stored
    assert preprocessing_of(None, settings, "m v1") == settings.preprocessing


def test_preprocessing_from_older_code_is_refused_naming_the_version(demo):
    with pytest.raises(ValueError, match=r"^m version 2: .*patch_size.*train it again"):
        preprocessing_of({"patch_size": [64, 64, 64]}, demo.load(), "m version 2")
