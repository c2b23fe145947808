"""The model-choice rule on a real SQLite registry: warnings, refusals, training's comparison."""

from __future__ import annotations

import shutil

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from medai.config import DockerSettings, ProjectSettings, TrackingSettings
from medai.testing import migrated_mlflow_store
from medai.tracking.errors import ModelNotFoundError, ModelRefusedError
from medai.tracking.model_choice import ModelRequest
from medai.tracking.registry import (
    VALIDATION_METRIC_TAG,
    aliased_figures,
    choose_version,
    find_registered_version,
    new_version_comparison,
    read_validation_metric,
    set_alias,
)
from medai.tracking.store import configure_tracking

pytestmark = pytest.mark.integration

METRIC = "best_val_dice_mean"


@pytest.fixture(scope="module")
def empty_store(tmp_path_factory):
    return migrated_mlflow_store(tmp_path_factory.mktemp("template"))


@pytest.fixture
def settings(tmp_path, monkeypatch, empty_store):
    """Development settings of project ``demo`` on a fresh store; MLflow's globals reset after."""
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLFLOW_RUN_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    shutil.copyfile(empty_store, tmp_path / "mlflow.db")
    tracking = TrackingSettings(
        uri=f"sqlite:///{tmp_path / 'mlflow.db'}", artifact_location=(tmp_path / "mlruns").as_uri()
    )
    settings = ProjectSettings(
        project="demo",
        environment="development",
        tracking=tracking,
        docker=DockerSettings(image="demo:1"),
    )
    configure_tracking(settings.tracking, tmp_path)
    yield settings
    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)


def register(tmp_path, value: float | None, *, tagged: bool = True) -> str:
    """A version of ``demo`` whose training run recorded ``METRIC`` (none when None)."""
    client = MlflowClient()
    found = client.get_experiment_by_name("demo")
    experiment = found.experiment_id if found else client.create_experiment("demo")
    run = client.create_run(experiment)
    if value is not None:
        client.log_metric(run.info.run_id, METRIC, value)
    client.set_terminated(run.info.run_id)
    if not client.search_registered_models("name='demo'"):
        client.create_registered_model("demo")
    tags = {VALIDATION_METRIC_TAG: METRIC} if tagged else {}
    version = client.create_model_version(
        "demo", (tmp_path / "model").as_uri(), run_id=run.info.run_id, tags=tags
    )
    return str(version.version)


def test_development_falls_back_to_the_challenger_with_one_warning_line(settings, tmp_path, capsys):
    set_alias("demo", "challenger", register(tmp_path, 0.0312))

    found = find_registered_version(settings, tmp_path)

    assert (found.number, found.alias) == ("1", "challenger")
    assert capsys.readouterr().err == (
        "WARNING: no champion for demo; serving challenger version 1 (best_val_dice_mean 0.031)"
        " - not promoted by `invoke deploy`\n"
    )


def test_a_version_without_its_metric_warns_that_it_is_unknown(settings, tmp_path, capsys):
    set_alias("demo", "challenger", register(tmp_path, None, tagged=False))

    find_registered_version(settings, tmp_path)

    assert "(validation metric unknown)" in capsys.readouterr().err


def test_the_champion_or_a_named_alias_is_used_without_a_warning(settings, tmp_path, capsys):
    set_alias("demo", "challenger", register(tmp_path, 0.5))
    assert find_registered_version(settings, tmp_path, "challenger").alias == "challenger"
    set_alias("demo", "champion", register(tmp_path, 0.9))
    assert find_registered_version(settings, tmp_path).alias == "champion"
    assert capsys.readouterr().err == ""


def test_production_refuses_the_challenger_unless_it_is_named(settings, tmp_path, capsys):
    set_alias("demo", "challenger", register(tmp_path, 0.03))
    production = settings.model_copy(update={"environment": "production"})

    with pytest.raises(ModelRefusedError, match=r"^production serves only the champion; demo"):
        find_registered_version(production, tmp_path)
    assert find_registered_version(production, tmp_path, "challenger").number == "1"
    assert capsys.readouterr().err == ""


def test_a_version_named_by_number_is_used_and_a_missing_one_is_not_found(settings, tmp_path):
    register(tmp_path, 0.1)
    production = ModelRequest.from_settings(
        settings.model_copy(update={"environment": "production"}), version=1
    )

    choice, version = choose_version(production)
    assert (choice.alias, str(version.version)) == (None, "1")
    with pytest.raises(ModelNotFoundError, match=r"^registered model 'demo' has no version 9$"):
        choose_version(ModelRequest.from_settings(settings, version=9))


def test_the_metric_is_read_from_the_training_run_by_tag_or_by_name(settings, tmp_path):
    del settings
    register(tmp_path, 0.25, tagged=False)
    version = MlflowClient().get_model_version("demo", "1")
    assert read_validation_metric(version).value is None
    assert read_validation_metric(version, METRIC).value == 0.25


def test_training_compares_its_version_with_those_it_replaces(settings, tmp_path):
    del settings
    assert aliased_figures("demo", METRIC) == {}
    set_alias("demo", "champion", register(tmp_path, 0.931))
    set_alias("demo", "challenger", register(tmp_path, 0.929))
    before = aliased_figures("demo", METRIC)
    new = register(tmp_path, 0.031)
    set_alias("demo", "challenger", new)  # what registration does after `before` was read

    figures, verdict = new_version_comparison(
        project="demo", name="demo", metric=METRIC, version=new, before=before
    )

    assert figures == (
        "demo version 3: best_val_dice_mean 0.031; previous challenger v2 0.929 (-0.898), "
        "champion v1 0.931 (-0.900)"
    )
    assert verdict.startswith("worse than both: the champion v1 keeps serving")
