"""brain-mri's config files load in each environment; bad values name their key."""

from __future__ import annotations

import pytest

from brain_mri.settings import BINDING, PROJECT
from medai.config import ConfigError
from medai.testing import SettingsChecks


def test_development_is_the_default_and_reads_every_layer():
    settings = BINDING.load(environ={})
    assert (settings.environment, settings.project) == ("development", "brain-mri")
    assert settings.model.channels == (8, 16, 32)  # model_configs/brain-mri.yaml
    assert settings.docker.image == "medai/brain-mri"  # api_configs/docker.yaml
    assert settings.data.synthetic.n_cases == 12


class TestSettings(SettingsChecks):
    binding = BINDING
    bad_values = (
        *SettingsChecks.bad_values,
        ("data.synthetic.radius=[4, 30]", r"radius \[4, 30\] needs 1 <= smallest < largest"),
        ("preprocessing.patch_size=[30, 32, 32]", r"must be divisible by 4"),
    )


def test_production_loads_but_refuses_the_generated_spheres():
    settings = BINDING.load(environ={"MEDAI_ENV": "production"})
    assert settings.logging.json_format
    with pytest.raises(ConfigError, match=r"dataset_dir: required in the 'production'"):
        PROJECT.load_data(settings)
