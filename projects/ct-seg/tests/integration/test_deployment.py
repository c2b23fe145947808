"""ct-seg's promotion gate and rollback, on a copy of the session's trained model registry.

A copy, so the champion alias set here never reaches the other integration tests, which
expect the freshly trained version to be challenger only.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from ct_seg.mlops.deployment import deploy_main, rollback_main

pytestmark = pytest.mark.integration

API_KEY = "ct-seg-gate-test-key-0123456789"
MOVED = ("tracking.uri=", "evaluate.output_dir=")


@dataclass(frozen=True)
class RegistryCopy:
    """Command options pointing at the copied store, and a client of it."""

    options: list[str]
    client: MlflowClient
    version: str


@pytest.fixture
def registry(trained_model, tmp_path, monkeypatch):
    """The copy; MLflow's process-wide URIs, which the commands move to it, are put back."""
    tracking, registry_uri = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    try:
        yield _copy_of(trained_model, tmp_path, monkeypatch)
    finally:
        mlflow.set_tracking_uri(tracking)
        mlflow.set_registry_uri(registry_uri)


def _copy_of(trained_model, tmp_path, monkeypatch) -> RegistryCopy:
    database = tmp_path / "mlflow.db"
    shutil.copyfile(trained_model.root / "mlflow.db", database)
    kept = [o for o in trained_model.overrides if not o.startswith(MOVED)]
    moved = [f"tracking.uri=sqlite:///{database}", f"evaluate.output_dir={tmp_path / 'eval'}"]
    monkeypatch.setenv("MEDAI_API_KEYS", API_KEY)  # deploy refuses without a server secret
    return RegistryCopy(
        options=[word for override in [*kept, *moved] for word in ("--set", override)],
        # Both URIs: a client without registry_uri takes the process-wide one, last set
        # by whichever command ran before (here: the session's training).
        client=MlflowClient(f"sqlite:///{database}", registry_uri=f"sqlite:///{database}"),
        version=trained_model.result.model_version,
    )


def test_deploying_with_no_champion_promotes_the_challenger_and_records_why(registry, capsys):
    assert deploy_main([*registry.options, "--env", "staging"]) == 0

    champion = registry.client.get_model_version_by_alias("ct-seg", "champion")
    assert str(champion.version) == registry.version
    assert champion.tags["deploy.decision"] == "promoted"
    assert champion.tags["deploy.champion_version"] == "none"
    assert champion.tags["deploy.environment"] == "staging"
    assert champion.tags["deploy.reason"].startswith("first deployment: no champion yet")
    assert f"promoted ct-seg v{registry.version} to champion (staging)" in capsys.readouterr().out


def test_rolling_back_the_first_champion_refuses_in_one_line_and_keeps_it(registry, capsys):
    assert deploy_main([*registry.options, "--env", "staging"]) == 0
    capsys.readouterr()

    assert rollback_main(registry.options) == 2

    assert capsys.readouterr().err == (
        f"error: ct-seg v{registry.version} is the first champion: there is no previous one "
        "to roll back to; champion unchanged\n"
    )
    champion = registry.client.get_model_version_by_alias("ct-seg", "champion")
    assert str(champion.version) == registry.version
