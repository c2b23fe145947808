import re

import pytest
import yaml
from pydantic import Field

from medai.config import (
    ConfigError,
    ProjectSettings,
    Section,
    TrackingSettings,
    available_environments,
    load_settings,
    settings_as_dict,
    settings_as_yaml,
    settings_hash,
)
from medai.config.layers import parse_scalar

BASE = "projects/demo/configs/base.yaml"
DEVELOPMENT = "projects/demo/configs/development.yaml"
MODEL = "projects/demo/configs/model_configs/demo.yaml"


class TrainSettings(Section):
    epochs: int
    lr: float
    patch: list[int] = Field(default_factory=lambda: [8])
    note: str = ""


class ModelSettings(Section):
    depth: int = 2
    dropout: float = 0.0


class DemoSettings(ProjectSettings):
    train: TrainSettings
    model: ModelSettings = ModelSettings()


# Each layer sets the keys of the layers before it to a new value, so the winner of every key
# shows which layer was applied last.
LAYERS = {
    "configs/base.yaml": {"seed": 1, "logging": {"level": "WARNING"}, "api": {"port": 8001}},
    BASE: {
        "project": "demo",
        "seed": 2,
        "train": {"epochs": 10, "lr": 0.01},
        "model": {"dropout": 0.1},
        "api": {"port": 8002},
        "docker": {"image": "demo:base"},
    },
    MODEL: {"depth": 3, "dropout": 0.2},
    "projects/demo/configs/api_configs/fastapi.yaml": {"port": 8003, "workers": 2},
    "projects/demo/configs/api_configs/docker.yaml": {"image": "demo:docker"},
    DEVELOPMENT: {
        "train": {"epochs": 20, "lr": 0.02},
        "model": {"depth": 4},
        "api": {"workers": 3},
    },
    "projects/demo/configs/production.yaml": {"train": {"epochs": 300}, "logging": {"json": True}},
}


def _repo(tmp_path, **replace):
    """Write the fake monorepo; ``replace`` maps a LAYERS key to new YAML text (None drops it)."""
    files = {path: yaml.safe_dump(data) for path, data in LAYERS.items()}
    files.update(replace)
    for relative, text in files.items():
        if text is None:
            continue
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return tmp_path, tmp_path / "projects" / "demo"


def _load(tmp_path, *, overrides=(), environ=None, **replace):
    root, project = _repo(tmp_path, **replace)
    return load_settings(
        DemoSettings, project, root, overrides=overrides, environ={} if environ is None else environ
    )


def _error(tmp_path, **kwargs):
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, **kwargs)
    message = str(caught.value)
    assert "\n" not in message
    return caught.value, message


def test_each_yaml_layer_overrides_the_layers_before_it(tmp_path):
    settings = _load(tmp_path)

    assert settings.logging.level == "WARNING"  # monorepo base, never overridden
    assert settings.seed == 2  # project base beats monorepo base
    assert settings.model.dropout == 0.2  # model_configs beats project base
    assert settings.model.depth == 4  # environment file beats model_configs
    assert settings.api.port == 8003  # api_configs/fastapi.yaml beats both base files
    assert settings.api.workers == 3  # environment file beats api_configs
    assert settings.docker.image == "demo:docker"  # api_configs/docker.yaml beats project base
    assert (settings.train.epochs, settings.train.lr) == (20, 0.02)
    assert settings.environment == "development"
    assert settings.project == "demo"


def test_environment_variables_beat_yaml_and_set_beats_environment_variables(tmp_path):
    settings = _load(
        tmp_path,
        environ={"MEDAI__TRAIN__EPOCHS": "30", "MEDAI__TRAIN__LR": "0.5"},
        overrides=["train.epochs=40"],
    )

    assert settings.train.epochs == 40
    assert settings.train.lr == 0.5


def test_section_files_are_optional_and_monorepo_base_is_optional(tmp_path):
    settings = _load(
        tmp_path,
        **{
            "configs/base.yaml": None,
            MODEL: None,
            "projects/demo/configs/api_configs/fastapi.yaml": None,
        },
    )

    assert settings.logging.level == "INFO"
    assert settings.model.dropout == 0.1
    assert settings.model.depth == 4
    assert settings.api.port == 8002


def test_medai_env_selects_the_production_file(tmp_path):
    settings = _load(tmp_path, environ={"MEDAI_ENV": "production"})

    assert settings.environment == "production"
    assert settings.train.epochs == 300
    assert settings.train.lr == 0.01  # production.yaml does not set it: project base applies
    assert settings.logging.json_format is True
    assert settings.model.depth == 3  # development.yaml was not read


def test_available_environments_lists_every_file_but_base(tmp_path):
    _, project = _repo(tmp_path)

    assert available_environments(project) == ["development", "production"]


@pytest.mark.parametrize("name", ["staging", "base", "../production", "Production"])
def test_unknown_medai_env_is_an_error_listing_the_known_environments(tmp_path, name):
    err, message = _error(tmp_path, environ={"MEDAI_ENV": name})

    assert message == (
        f"environment variable MEDAI_ENV: unknown environment {name!r}; "
        "expected one of development, production"
    )
    assert err.source == "environment variable MEDAI_ENV"


def test_mlflow_tracking_uri_sets_tracking_uri(tmp_path):
    settings = _load(tmp_path, environ={"MLFLOW_TRACKING_URI": "http://mlflow.internal:5000"})

    assert settings.tracking.uri == "http://mlflow.internal:5000"


def test_set_beats_mlflow_tracking_uri(tmp_path):
    settings = _load(
        tmp_path,
        environ={"MLFLOW_TRACKING_URI": "http://a:5000"},
        overrides=["tracking.uri=http://b:5000"],
    )

    assert settings.tracking.uri == "http://b:5000"


def test_unknown_key_names_the_file_and_dotted_key_with_a_suggestion(tmp_path):
    err, message = _error(tmp_path, **{DEVELOPMENT: yaml.safe_dump({"train": {"epochz": 5}})})

    assert message == (
        f"{DEVELOPMENT}: train.epochz: unknown key; did you mean 'epochs'? "
        "(allowed here: epochs, lr, note, patch)"
    )
    assert (err.source, err.key) == (DEVELOPMENT, "train.epochz")


def test_unknown_key_in_model_config_is_reported_under_model(tmp_path):
    _, message = _error(tmp_path, **{MODEL: "dropuot: 0.5\n"})

    assert message.startswith(f"{MODEL}: model.dropuot: unknown key; did you mean 'dropout'?")


def test_unknown_top_level_key_suggests_the_section(tmp_path):
    text = yaml.safe_dump({**LAYERS[BASE], "trian": {"epochs": 1}})

    _, message = _error(tmp_path, **{BASE: text})

    assert message.startswith(f"{BASE}: trian: unknown key; did you mean 'train'?")


def test_unknown_key_without_a_close_match_has_no_suggestion(tmp_path):
    _, message = _error(tmp_path, overrides=["train.zzz=1"])

    assert (
        message
        == "--set train.zzz=1: train.zzz: unknown key (allowed here: epochs, lr, note, patch)"
    )


@pytest.mark.parametrize(
    ("kwargs", "source"),
    [
        ({DEVELOPMENT: "train:\n  epochs: many\n"}, DEVELOPMENT),
        ({"overrides": ["train.epochs=many"]}, "--set train.epochs=many"),
        (
            {"environ": {"MEDAI__TRAIN__EPOCHS": "many"}},
            "environment variable MEDAI__TRAIN__EPOCHS",
        ),
    ],
)
def test_wrong_type_names_the_layer_that_supplied_the_value(tmp_path, kwargs, source):
    err, message = _error(tmp_path, **kwargs)

    assert message.startswith(f"{source}: train.epochs: Input should be a valid integer")
    assert message.endswith("(got 'many')")
    assert (err.source, err.key) == (source, "train.epochs")


def test_wrong_type_in_a_file_overridden_later_blames_the_later_layer(tmp_path):
    _, message = _error(tmp_path, overrides=["api.port=0"])

    assert message.startswith("--set api.port=0: api.port: Input should be greater than or equal")


def test_mapping_set_by_override_is_blamed_for_its_own_bad_values(tmp_path):
    _, message = _error(tmp_path, overrides=['train={"epochs": "many", "lr": 0.1}'])

    assert message.startswith('--set train={"epochs": "many", "lr": 0.1}: train.epochs: ')


def test_missing_key_after_override_replaced_a_section_blames_the_override(tmp_path):
    _, message = _error(tmp_path, environ={"MEDAI__TRAIN": '{"epochs": 3}'})

    assert message == "environment variable MEDAI__TRAIN: train.lr: required key is missing"


def test_several_errors_report_the_first_and_count_the_rest(tmp_path):
    _, message = _error(tmp_path, overrides=["train.epochs=x", "train.lr=y"])

    assert message.startswith("--set train.epochs=x: train.epochs: ")
    assert message.endswith(" (and 1 more)")


def test_missing_required_section_is_named(tmp_path):
    text = yaml.safe_dump({k: v for k, v in LAYERS[BASE].items() if k != "docker"})

    _, message = _error(
        tmp_path, **{BASE: text, "projects/demo/configs/api_configs/docker.yaml": None}
    )

    assert message == "defaults: docker: required key is missing"


def test_missing_required_key_blames_the_file_that_opened_its_section(tmp_path):
    text = yaml.safe_dump({k: v for k, v in LAYERS[BASE].items() if k != "docker"})
    docker = "projects/demo/configs/api_configs/docker.yaml"

    _, message = _error(tmp_path, **{BASE: text, docker: "base_image: python:3.11\n"})

    assert message == f"{docker}: docker.image: required key is missing"


def test_invalid_yaml_names_the_file_and_the_line(tmp_path):
    text = "train:\n  epochs: 3\n  lr: [0.1\n  patch: 4\n"

    err, message = _error(tmp_path, **{DEVELOPMENT: text})

    assert re.fullmatch(
        rf"{re.escape(DEVELOPMENT)}: invalid YAML at line 4, column \d+: .+", message
    )
    assert err.key is None


def test_yaml_file_that_is_not_a_mapping_is_an_error(tmp_path):
    _, message = _error(tmp_path, **{DEVELOPMENT: "- 1\n- 2\n"})

    assert message == f"{DEVELOPMENT}: must be a mapping of keys, got list"


def test_empty_yaml_file_is_an_empty_layer(tmp_path):
    settings = _load(tmp_path, **{DEVELOPMENT: ""})

    assert settings.train.epochs == 10


def test_yaml_file_with_non_string_keys_is_an_error(tmp_path):
    _, message = _error(tmp_path, **{DEVELOPMENT: "1: one\n"})

    assert message == f"{DEVELOPMENT}: 1: keys must be strings"


@pytest.mark.parametrize("item", ["train.epochs", "=3", "train..epochs=3", ".epochs=3", " =3"])
def test_malformed_set_is_an_error(tmp_path, item):
    _, message = _error(tmp_path, overrides=[item])

    assert message == f"--set {item}: expected the form dotted.key=value, e.g. train.epochs=2"


def test_set_below_a_scalar_is_an_error(tmp_path):
    _, message = _error(tmp_path, overrides=["seed.value=1"])

    assert message == "--set seed.value=1: seed.value: cannot set a sub-key: seed is not a mapping"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2", 2),
        ("0.5", 0.5),
        ("[1,2]", [1, 2]),
        ("true", True),
        ("null", None),
        ('"2"', "2"),
        ("yes", "yes"),
        ("on", "on"),
        ("http://host:5000", "http://host:5000"),
        ("", ""),
    ],
)
def test_override_values_are_parsed_as_json_else_kept_as_strings(text, expected):
    value = parse_scalar(text)

    assert value == expected
    assert type(value) is type(expected)


def test_override_values_reach_the_settings_with_json_types(tmp_path):
    settings = _load(
        tmp_path,
        overrides=["train.epochs=2", "train.patch=[16,32]", "train.note=yes"],
        environ={"MEDAI__MODEL__DROPOUT": "0.25"},
    )

    assert settings.train.epochs == 2
    assert settings.train.patch == [16, 32]
    assert settings.train.note == "yes"
    assert settings.model.dropout == 0.25


def test_set_value_may_contain_equals_signs(tmp_path):
    settings = _load(tmp_path, overrides=["tracking.uri=http://h/?a=b"])

    assert settings.tracking.uri == "http://h/?a=b"


def test_settings_hash_is_stable_and_changes_with_any_value(tmp_path):
    first = _load(tmp_path)
    again = _load(tmp_path)
    changed = _load(tmp_path, overrides=["train.lr=0.021"])

    assert re.fullmatch(r"[0-9a-f]{64}", settings_hash(first))
    assert settings_hash(first) == settings_hash(again)
    assert settings_hash(changed) != settings_hash(first)


@pytest.mark.parametrize("env", ["development", "production"])
def test_settings_as_yaml_loads_back_into_the_same_settings(tmp_path, env):
    settings = _load(tmp_path, environ={"MEDAI_ENV": env})

    text = settings_as_yaml(settings)

    assert DemoSettings.model_validate(yaml.safe_load(text)) == settings
    assert list(yaml.safe_load(text))[:3] == ["project", "environment", "seed"]


def test_settings_as_dict_uses_the_keys_of_the_config_files(tmp_path):
    settings = _load(tmp_path, environ={"MEDAI_ENV": "production"})

    assert settings_as_dict(settings)["logging"] == {"level": "WARNING", "json": True}


def test_empty_section_in_base_is_filled_by_the_section_file(tmp_path):
    text = yaml.safe_dump({**LAYERS[BASE], "model": None})

    settings = _load(tmp_path, **{BASE: text, DEVELOPMENT: "train: {epochs: 5}\n"})

    assert (settings.model.depth, settings.model.dropout) == (3, 0.2)


def test_tracking_defaults_to_a_store_at_the_repo_root(tmp_path):
    tracking = TrackingSettings()

    assert tracking.resolved_uri(tmp_path) == f"sqlite:///{tmp_path.resolve() / 'mlflow.db'}"
    assert tracking.resolved_artifact_location(tmp_path) == (tmp_path / "mlruns").resolve().as_uri()


def test_tracking_server_keeps_its_own_artifact_root_unless_one_is_configured(tmp_path):
    server = TrackingSettings(uri="http://mlflow:5000")
    pinned = TrackingSettings(uri="http://mlflow:5000", artifact_location="s3://bucket/mlruns")

    assert server.resolved_uri(tmp_path) == "http://mlflow:5000"
    assert server.resolved_artifact_location(tmp_path) is None
    assert pinned.resolved_artifact_location(tmp_path) == "s3://bucket/mlruns"


def test_experiment_and_registered_model_default_to_the_project_name(tmp_path):
    settings = _load(tmp_path, overrides=["tracking.experiment=exp"])

    assert settings.experiment_name() == "exp"
    assert settings.registered_model_name() == "demo"


def test_set_fills_a_section_left_empty_in_a_file(tmp_path):
    text = yaml.safe_dump({**LAYERS[BASE], "model": None})

    settings = _load(
        tmp_path,
        overrides=["model.depth=5"],
        **{BASE: text, MODEL: None, DEVELOPMENT: "train: {epochs: 5}\n"},
    )

    assert (settings.model.depth, settings.model.dropout) == (5, 0.0)


def test_unknown_key_spelt_as_the_field_name_suggests_the_key_of_the_files(tmp_path):
    _, message = _error(tmp_path, overrides=["logging.json_format=true"])

    assert message == (
        "--set logging.json_format=true: logging.json_format: unknown key; did you mean "
        "'json'? (allowed here: json, level)"
    )


def test_missing_key_is_not_blamed_on_a_file_whose_section_a_later_file_dropped(tmp_path):
    monorepo = yaml.safe_dump({"train": {"epochs": 1, "lr": 0.1}})
    base = yaml.safe_dump({**LAYERS[BASE], "train": None})

    _, message = _error(
        tmp_path,
        **{"configs/base.yaml": monorepo, BASE: base, DEVELOPMENT: "train: {lr: 0.2}\n"},
    )

    assert message == f"{DEVELOPMENT}: train.epochs: required key is missing"
