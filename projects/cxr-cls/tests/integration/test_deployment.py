"""cxr-cls's promotion gate on the session's tiny classifier: promote once, refuse a rollback.

The gate itself (macro AUROC ranks; per-finding AUROC may not regress) is tested in
the shared library; here it runs end to end on cxr-cls's
registered model, in the session's throwaway MLflow store.
"""

from __future__ import annotations

import pytest
from mlflow.tracking import MlflowClient

from cxr_cls.mlops.deployment import deploy_main, rollback_main

pytestmark = pytest.mark.integration
NAME = "cxr-cls"
KEY = "cxr-gate-key-" + "g" * 20
"""The deploy command refuses to promote when the server would have no API key."""


@pytest.fixture
def registry(trained_model) -> MlflowClient:
    """A client of the session's store, its registry included."""
    uri = trained_model.settings.tracking.uri
    return MlflowClient(uri, registry_uri=uri)


@pytest.fixture
def options(trained_model) -> list[str]:
    """The session's overrides as ``--set KEY=VALUE`` options."""
    return [word for override in trained_model.overrides for word in ("--set", override)]


def champion_of(client: MlflowClient) -> str | None:
    aliases = client.get_registered_model(NAME).aliases
    return str(aliases["champion"]) if "champion" in aliases else None


def test_without_an_api_key_no_alias_moves(registry, options, capsys):
    before = champion_of(registry)
    assert deploy_main(["--env", "staging", *options]) == 2
    assert "MEDAI_API_KEYS" in capsys.readouterr().err
    assert champion_of(registry) == before


def test_the_first_deploy_promotes_the_challenger_and_tags_the_decision(
    trained_model, registry, options, monkeypatch
):
    monkeypatch.setenv("MEDAI_API_KEYS", KEY)

    assert deploy_main(["--env", "staging", *options]) == 0  # promotes, or finds it done
    version = trained_model.result.model_version
    assert champion_of(registry) == version
    tags = registry.get_model_version(NAME, version).tags
    assert tags["deploy.decision"] == "promoted"
    assert tags["deploy.environment"] == "staging"


def test_rolling_back_the_only_champion_is_refused_in_one_line(
    trained_model, registry, options, monkeypatch, capsys
):
    monkeypatch.setenv("MEDAI_API_KEYS", KEY)
    deploy_main(["--env", "staging", *options])
    capsys.readouterr()

    assert rollback_main(options) == 2
    refusal = capsys.readouterr().err
    assert refusal.endswith(
        "is the first champion: there is no previous one to roll back to; champion unchanged\n"
    )
    assert refusal.count("\n") == 1
    assert champion_of(registry) == trained_model.result.model_version
