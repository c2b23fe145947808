"""medai.testing's shared checks (what rendered projects subclass), run on the sphere project.

The template's tests are thin subclasses of these, so they are proven here, in the
shared library's own suite, on a real kit project: settings that load, and a real
deploy and rollback through the project's commands on a model trained for two epochs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from medai.deployment import deployment_commands
from medai.testing import (
    PromotionGateChecks,
    SettingsChecks,
    as_options,
    registry_client,
    session_fixtures,
    throwaway_overrides,
)


def test_throwaway_overrides_keep_data_reports_and_the_store_in_the_work_folder(tmp_path):
    overrides = throwaway_overrides(tmp_path, {"train.epochs": 2})
    assert overrides[0] == "train.epochs=2"
    assert f"data.root={tmp_path / 'data'}" in overrides
    assert f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}" in overrides
    assert as_options(overrides[:1]) == ["--set", "train.epochs=2"]


def test_settings_checks_pass_on_a_kit_project_and_catch_an_accepted_bad_value(demo):
    checks = type("Checks", (SettingsChecks,), {"binding": demo.binding})()
    checks.test_a_set_override_beats_an_environment_variable()
    checks.test_each_bad_value_stops_the_load_with_one_line_naming_it()

    lenient = type(
        "Lenient",
        (SettingsChecks,),
        {"binding": demo.binding, "bad_values": (("train.epochs=3", "never accepted"),)},
    )()
    with pytest.raises(pytest.fail.Exception, match="DID NOT RAISE"):
        lenient.test_each_bad_value_stops_the_load_with_one_line_naming_it()


def test_session_fixtures_are_session_scoped_fixtures_named_for_the_conftest(demo):
    fixtures = session_fixtures(demo.project, {}, train="medai.segmentation.training:train")
    assert [f.name for f in fixtures] == [
        "session_overrides",
        "session_options",
        "registry",
        "trained",
    ]
    assert {f._fixture_function_marker.scope for f in fixtures} == {"session"}


@pytest.mark.integration
def test_the_promotion_gate_checks_pass_on_a_freshly_trained_kit_project(
    demo, tmp_path: Path, monkeypatch, capsys
):
    from medai.segmentation.training import train  # noqa: PLC0415 - torch, MONAI, MLflow

    overrides = throwaway_overrides(
        tmp_path / "work", {"train.epochs": 2, "train.val_every": 1, "evaluate.overlay_cases": 1}
    )
    result = train(demo.project, demo.binding.load(overrides, environ={}))
    deploy, rollback = deployment_commands(demo.project)
    gate = type(
        "Gate",
        (PromotionGateChecks,),
        {
            "model_name": demo.load().registered_model_name(),
            "deploy": staticmethod(deploy),
            "rollback": staticmethod(rollback),
        },
    )()
    registry = registry_client(demo.binding, overrides)
    options = as_options(overrides)

    gate.test_a_first_deploy_promotes_the_challenger_and_records_why(
        result, registry, options, monkeypatch
    )
    gate.test_rolling_back_the_first_champion_is_refused_in_one_line(
        result, registry, options, monkeypatch, capsys
    )
    assert gate.champion_of(registry) == result.model_version
