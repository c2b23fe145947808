"""deploy and rollback against a real MLflow registry (SQLite): what moves, what is recorded.

The registry, the demo repo and its scored project (a fixed Dice per version) are the
fixtures of conftest.py.
"""

from __future__ import annotations

import socket

import pytest

from medai.deployment import deployment_commands


def registry_state(registry) -> tuple[dict[str, str], dict[str, str], list[dict]]:
    """Aliases, model tags and every version's tags: what a refusal must not change."""
    model = registry.client.get_registered_model(registry.name)
    versions = registry.client.search_model_versions(f"name='{registry.name}'")
    return (
        dict(model.aliases),
        dict(model.tags),
        sorted(({"v": v.version, **v.tags} for v in versions), key=lambda t: t["v"]),
    )


def test_the_first_deploy_promotes_and_records_who_what_and_why(registry, project, capsys):
    first = registry.add_version(0.8)
    deploy, _ = deployment_commands(project)

    assert deploy(["--env", "production"]) == 0

    assert registry.aliases()["champion"] == first
    tags = registry.tags(first)
    assert tags["deploy.decision"] == "promoted"
    assert tags["deploy.reason"].startswith("first deployment")
    assert tags["deploy.environment"] == "production"
    assert tags["deploy.champion_version"] == "none"
    assert tags["deploy.challenger_metrics"] == '{"dice_foreground": 0.8}'
    assert tags["deploy.actor"].startswith(("user:", "github-actions:", "gitlab-ci:"))
    assert tags["deploy.git_commit"]
    assert "promoted demo-proj v1 to champion (production)" in capsys.readouterr().out


def test_a_worse_challenger_is_refused_in_one_line_and_the_registry_is_unchanged(
    registry, project, capsys
):
    registry.add_version(0.9)
    deploy, _ = deployment_commands(project)
    assert deploy([]) == 0
    registry.add_version(0.85)
    before = registry_state(registry)

    assert deploy([]) == 1

    assert registry_state(registry) == before
    error = capsys.readouterr().err.strip()
    assert error == (
        "refused: challenger v2 does not beat champion v1 on dice_foreground: 0.8500 vs 0.9000 "
        "(needs an improvement > 0); champion unchanged"
    )


def test_a_better_challenger_replaces_the_champion_and_rollback_restores_it(registry, project):
    first = registry.add_version(0.9)
    deploy, rollback = deployment_commands(project)
    assert deploy([]) == 0
    second = registry.add_version(0.95)

    assert deploy([]) == 0
    assert registry.aliases()["champion"] == second
    assert registry.tags(second)["deploy.champion_version"] == first

    assert rollback([]) == 0
    assert registry.aliases()["champion"] == first
    assert registry.tags(second)["rollback.replaced_by"] == first
    # The version rolled back from is no longer the challenger: the next deploy cannot
    # quietly promote it again.
    assert "challenger" not in registry.aliases()
    assert deploy([]) == 2
    assert registry.aliases()["champion"] == first


def test_a_rollback_with_no_previous_champion_changes_nothing(registry, project, capsys):
    registry.add_version(0.9)
    deploy, rollback = deployment_commands(project)
    assert deploy([]) == 0
    before = registry_state(registry)

    assert rollback([]) == 2

    assert registry_state(registry) == before
    assert capsys.readouterr().err.strip() == (
        "error: demo-proj v1 is the first champion: there is no previous one to roll back to; "
        "champion unchanged"
    )


def test_a_deploy_with_no_challenger_is_one_line(registry, project, capsys):
    registry.add_version(challenger=False)
    deploy, _ = deployment_commands(project)

    assert deploy([]) == 2

    err = capsys.readouterr().err.strip()
    assert err.startswith("error: registered model 'demo-proj' has no version with alias")
    assert "\n" not in err
    assert registry.aliases() == {}


def test_a_missing_api_key_secret_stops_before_the_registry(registry, project, monkeypatch, capsys):
    registry.add_version(0.9)
    monkeypatch.delenv("MEDAI_API_KEYS")
    before = registry_state(registry)
    deploy, _ = deployment_commands(project)

    assert deploy(["--env", "production"]) == 2

    assert registry_state(registry) == before
    assert "no API-key secret for production" in capsys.readouterr().err


@pytest.mark.parametrize(
    "secret",
    [
        ("MEDAI_API_KEYS_FILE", "/nonexistent/keys", "/nonexistent/keys"),
        ("MEDAI_API_KEYS", "short", "16"),
    ],
)
def test_an_unusable_api_key_secret_is_one_line_and_changes_nothing(
    registry, project, monkeypatch, capsys, secret
):
    variable, value, says = secret
    registry.add_version(0.9)
    monkeypatch.delenv("MEDAI_API_KEYS")
    monkeypatch.setenv(variable, value)
    before = registry_state(registry)
    deploy, _ = deployment_commands(project)

    assert deploy(["--env", "staging"]) == 2

    err = capsys.readouterr().err
    assert err.startswith("error: environment: MEDAI_API_KEYS_FILE: API-key secret for staging: ")
    assert says in err
    assert err.count("\n") == 1
    assert registry_state(registry) == before


def test_an_unknown_environment_is_refused(registry, project, capsys):
    registry.add_version(0.9)
    deploy, _ = deployment_commands(project)
    assert deploy(["--env", "moon"]) == 2
    assert "unknown environment 'moon'; known: staging, production" in capsys.readouterr().err


def test_an_unreachable_tracking_server_is_one_line(project, monkeypatch, capsys):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{port}")
    deploy, rollback = deployment_commands(project)

    assert deploy([]) == 2
    assert rollback([]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2
    assert all(str(port) in line for line in lines)
