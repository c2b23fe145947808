"""cxr-cls's real config files load, and bad values stop with file and key."""

from __future__ import annotations

import pytest

from cxr_cls.data.synthetic import FINDINGS
from cxr_cls.settings import BINDING, PROJECT, CxrClsSettings
from medai.config import ConfigError


def test_development_config_is_the_default_and_loads():
    settings = BINDING.load(environ={})
    assert settings.environment == "development"
    assert settings.project == "cxr-cls"
    assert settings.data.source == "synthetic"
    assert settings.data.labels == FINDINGS
    assert settings.preprocessing.image_size == 64  # development.yaml overrides base.yaml's 128
    assert settings.train.torch_threads == 1
    assert settings.model.block_config == (4, 4, 4)  # from model_configs/cxr-cls.yaml
    assert settings.api.max_body_mb == 64  # from api_configs/fastapi.yaml
    assert settings.docker.image == "medai/cxr-cls"  # from api_configs/docker.yaml


def test_production_config_loads_with_its_larger_network():
    settings = BINDING.load(environ={"MEDAI_ENV": "production"})  # a server needs no data
    assert settings.preprocessing.image_size == 320
    assert settings.model.block_config == (6, 12, 24, 16)  # DenseNet-121's
    assert settings.model.downsampling == 32
    assert settings.train.device == "auto"
    assert settings.data.allow_synthetic is False


def test_production_refuses_synthetic_data_when_data_is_loaded():
    settings = BINDING.load(environ={"MEDAI_ENV": "production"})
    with pytest.raises(ConfigError, match=r"^data.source: 'synthetic' is refused in the 'produc"):
        PROJECT.load_data(settings)


def test_a_csv_dataset_is_configured_by_environment_and_then_overridden():
    environ = {"MEDAI__DATA__SOURCE": "csv", "MEDAI__DATA__CSV__LAYOUT": "nih"}
    from_env = BINDING.load(environ=environ).data
    overridden = BINDING.load(["data.csv.layout=chexpert"], environ=environ).data
    assert (from_env.source, from_env.csv.layout) == ("csv", "nih")
    assert overridden.csv.layout == "chexpert"


REFUSED = {
    "misspelt key": ("data.csv.layuot=nih", r"layuot: unknown key; did you mean 'layout'"),
    "unknown source": ("data.source=dicomdir", r"data.source: Input should be 'synthetic', 'c"),
    "unknown layout": ("data.csv.layout=mimic", r"layout: Input should be 'chexpert' or 'nih'"),
    "uncertain policy": ("data.csv.uncertain=maybe", r"Input should be 'zeros', 'ones' or 'igno"),
    "tiny synthetic": ("data.synthetic.size=16", r"data.synthetic.size: Input should be great"),
    "empty labels": ("data.labels=[]", r"data.labels: Tuple should have at least 1 item"),
    "image vs network": ("preprocessing.image_size=16", r"gives 1x1 feature maps"),
}


@pytest.mark.parametrize("override", list(REFUSED), ids=list(REFUSED))
def test_a_bad_value_stops_with_the_override_and_the_key(override):
    setting, expected = REFUSED[override]
    with pytest.raises(ConfigError, match=expected) as caught:
        BINDING.load([setting], environ={})
    assert "\n" not in str(caught.value)
    assert str(caught.value).startswith(("--set ", "resolved config"))


def test_the_settings_type_and_project_words():
    assert BINDING.settings_type is CxrClsSettings
    assert PROJECT.name == "cxr-cls"
    assert PROJECT.modality == "chest radiograph"
    assert set(PROJECT.findings) == set(FINDINGS)
