"""brain-mri's config files load in each environment; bad values name their key."""

from __future__ import annotations

import pytest

from brain_mri.settings import BINDING, PROJECT
from medai.config import ConfigError
from medai.testing import SettingsChecks


def test_development_is_the_default_and_reads_every_layer():
    settings = BINDING.load(environ={})
    assert (settings.environment, settings.project) == ("development", "brain-mri")
    assert settings.model.architecture == "segresnet"  # model_configs/brain-mri.yaml
    assert settings.model.channels == (8, 16, 32)
    assert settings.docker.image == "medai/brain-mri"  # api_configs/docker.yaml
    assert settings.data.synthetic.n_cases == 20
    assert settings.data.regions == {
        "whole_tumor": [1, 2, 3],
        "tumor_core": [2, 3],
        "enhancing_tumor": [3],
    }
    assert settings.preprocessing.normalize == "project"  # utils/preprocessing.py


class TestSettings(SettingsChecks):
    binding = BINDING
    bad_values = (
        *SettingsChecks.bad_values,
        ("data.synthetic.shape=[64, 40, 64]", r"shape \[64, 40, 64\] must be at least 48"),
        ("data.synthetic.layout=bids", r"data.synthetic.layout"),
        ("data.synthetic.noise=0.9", r"data.synthetic.noise"),
        ("preprocessing.patch_size=[36, 32, 32]", r"must be divisible by 8"),
        ("model.stem_stride=3", r"model.stem_stride"),
        ("model.channels=[8, 12, 32]", r"channels must double per level"),
        ("model.blocks_down=[1, 2]", r"blocks_down needs one entry per level \(3\)"),
        ("model.num_res_units=2", r"model.num_res_units"),
    )


def test_production_loads_but_refuses_the_generated_phantoms():
    settings = BINDING.load(environ={"MEDAI_ENV": "production"})
    assert settings.logging.json_format
    with pytest.raises(ConfigError, match=r"dataset_dir: required in the 'production'"):
        PROJECT.load_data(settings)
