"""The kit's settings sections refuse inconsistent values and keep a model's preprocessing."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from medai.segmentation.settings import (
    ModelSettings,
    PreprocessingSettings,
    SegmentationSettings,
    preprocessing_of,
)

DOCKER = {"image": "medai/demo"}


def settings(**sections) -> SegmentationSettings:
    return SegmentationSettings(
        project="demo", environment="development", docker=DOCKER, **sections
    )


def test_an_inverted_intensity_window_is_refused():
    with pytest.raises(ValidationError, match=r"intensity_min \(400.0\) must be below"):
        PreprocessingSettings(intensity_min=400, intensity_max=300)


def test_spacing_must_be_positive():
    with pytest.raises(ValidationError, match="target_spacing must be positive"):
        PreprocessingSettings(target_spacing=(1.0, 0.0, 1.0))


def test_window_is_the_intensity_range():
    assert PreprocessingSettings(intensity_min=-1000, intensity_max=400).window == (-1000, 400)


def test_strides_need_one_fewer_entry_than_channels():
    with pytest.raises(ValidationError, match="len\\(strides\\) == len\\(channels\\) - 1"):
        ModelSettings(channels=(8, 16, 32), strides=(2,))
    assert ModelSettings(channels=(8, 16, 32), strides=(2, 3)).size_divisor == 6


def test_patch_must_be_divisible_by_the_network_strides():
    with pytest.raises(ValidationError, match=r"patch_size \(36, 64, 64\) must be divisible by 8"):
        settings(preprocessing=PreprocessingSettings(patch_size=(36, 64, 64)))


def test_stored_preprocessing_wins_over_the_config():
    current = settings()
    stored = PreprocessingSettings(intensity_min=0.0, intensity_max=1.0, patch_size=(32, 32, 32))

    from_json = preprocessing_of(stored.model_dump_json(), current, "demo version 1")
    from_card = preprocessing_of(stored.model_dump(mode="json"), current, "demo version 1")

    assert from_json == stored
    assert from_card == stored
    assert preprocessing_of(None, current, "demo version 1") == current.preprocessing


def test_preprocessing_from_older_code_names_the_model_and_the_key():
    old = '{"orientation": "RAS", "hu_min": -200, "hu_max": 300}'
    with pytest.raises(
        ValueError, match=r"^demo version 2: .*hu_min: Extra inputs.*train it again"
    ):
        preprocessing_of(old, settings(), "demo version 2")
