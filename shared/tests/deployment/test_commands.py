"""deploy and rollback against a real MLflow registry (SQLite): what moves, what is recorded.

The project side is a small scorer with fixed Dice per version: the kits' evaluations are
tested where they live; here the question is what the commands do to the registry.
"""

from __future__ import annotations

import shutil
import socket
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from medai.config import ProjectSettings
from medai.deployment import GateMetric, GateScores, deployment_commands
from medai.project import ProjectBinding
from medai.testing import migrated_mlflow_store, write_demo_repo

NAME = "demo-proj"


@dataclass
class ScoredProject:
    """A project whose evaluation gives a fixed Dice per model version."""

    binding: ProjectBinding[ProjectSettings]
    dice: dict[str, float]

    def gate_scores(self, settings: ProjectSettings, alias: str) -> GateScores:
        del settings
        version = str(MlflowClient().get_model_version_by_alias(NAME, alias).version)
        return GateScores(
            version, "dice_foreground", {"dice_foreground": GateMetric(self.dice[version])}
        )


@pytest.fixture(scope="module")
def empty_store(tmp_path_factory):
    """MLflow's tables created once: migrating takes seconds, copying the file does not."""
    return migrated_mlflow_store(tmp_path_factory.mktemp("template"))


@pytest.fixture
def repo(tmp_path, monkeypatch, empty_store) -> Path:
    """A one-project monorepo whose tracking store is a fresh SQLite file; a key is set."""
    for variable in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MEDAI_ENV", "MEDAI_API_KEYS"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("MEDAI_API_KEYS", "a-long-enough-test-key-0123456789")
    write_demo_repo(
        tmp_path, NAME, "demo_proj", f"project: {NAME}\ndocker:\n  image: medai/{NAME}\n"
    )
    shutil.copyfile(empty_store, tmp_path / "mlflow.db")
    yield tmp_path
    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)


@pytest.fixture
def client(repo) -> MlflowClient:
    uri = f"sqlite:///{repo / 'mlflow.db'}"
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def make_project(repo: Path, dice: dict[str, float]) -> ScoredProject:
    package_file = repo / "projects" / NAME / "src" / "demo_proj" / "__init__.py"
    return ScoredProject(ProjectBinding(package_file, ProjectSettings), dice)


def add_version(client: MlflowClient, repo: Path, *, challenger: bool = True) -> str:
    """Register a new version (no artifact needed) and make it the challenger."""
    if not client.search_registered_models(f"name='{NAME}'"):
        client.create_registered_model(NAME)
    version = str(client.create_model_version(NAME, source=repo.as_uri()).version)
    if challenger:
        client.set_registered_model_alias(NAME, "challenger", version)
    return version


def registry_state(client: MlflowClient) -> tuple[dict[str, str], dict[str, str], list[dict]]:
    """Aliases, model tags and every version's tags: what a refusal must not change."""
    model = client.get_registered_model(NAME)
    versions = client.search_model_versions(f"name='{NAME}'")
    return (
        dict(model.aliases),
        dict(model.tags),
        sorted(({"v": v.version, **v.tags} for v in versions), key=lambda t: t["v"]),
    )


def champion(client: MlflowClient) -> str:
    return str(client.get_model_version_by_alias(NAME, "champion").version)


def test_the_first_deploy_promotes_and_records_who_what_and_why(repo, client, capsys):
    first = add_version(client, repo)
    deploy, _ = deployment_commands(make_project(repo, {first: 0.8}))

    assert deploy(["--env", "production"]) == 0

    assert champion(client) == first
    tags = client.get_model_version(NAME, first).tags
    assert tags["deploy.decision"] == "promoted"
    assert tags["deploy.reason"].startswith("first deployment")
    assert tags["deploy.environment"] == "production"
    assert tags["deploy.champion_version"] == "none"
    assert tags["deploy.challenger_metrics"] == '{"dice_foreground": 0.8}'
    assert tags["deploy.actor"].startswith(("user:", "github-actions:", "gitlab-ci:"))
    assert tags["deploy.git_commit"]
    assert "promoted demo-proj v1 to champion (production)" in capsys.readouterr().out


def test_a_worse_challenger_is_refused_in_one_line_and_the_registry_is_unchanged(
    repo, client, capsys
):
    first = add_version(client, repo)
    project = make_project(repo, {first: 0.9})
    deploy, _ = deployment_commands(project)
    assert deploy([]) == 0
    second = add_version(client, repo)
    project.dice[second] = 0.85
    before = registry_state(client)

    assert deploy([]) == 1

    assert registry_state(client) == before
    error = capsys.readouterr().err.strip()
    assert error == (
        "refused: challenger v2 does not beat champion v1 on dice_foreground: 0.8500 vs 0.9000 "
        "(needs an improvement > 0); champion unchanged"
    )


def test_a_better_challenger_replaces_the_champion_and_rollback_restores_it(repo, client):
    first = add_version(client, repo)
    project = make_project(repo, {first: 0.9})
    deploy, rollback = deployment_commands(project)
    assert deploy([]) == 0
    second = add_version(client, repo)
    project.dice[second] = 0.95

    assert deploy([]) == 0
    assert champion(client) == second
    assert client.get_model_version(NAME, second).tags["deploy.champion_version"] == first

    assert rollback([]) == 0
    assert champion(client) == first
    assert client.get_model_version(NAME, second).tags["rollback.replaced_by"] == first
    # The version rolled back from is no longer the challenger: the next deploy cannot
    # quietly promote it again.
    assert "challenger" not in client.get_registered_model(NAME).aliases
    assert deploy([]) == 2
    assert champion(client) == first


def test_a_rollback_with_no_previous_champion_changes_nothing(repo, client, capsys):
    first = add_version(client, repo)
    deploy, rollback = deployment_commands(make_project(repo, {first: 0.9}))
    assert deploy([]) == 0
    before = registry_state(client)

    assert rollback([]) == 2

    assert registry_state(client) == before
    assert capsys.readouterr().err.strip() == (
        "error: demo-proj v1 is the first champion: there is no previous one to roll back to; "
        "champion unchanged"
    )


def test_a_deploy_with_no_challenger_is_one_line(repo, client, capsys):
    add_version(client, repo, challenger=False)
    deploy, _ = deployment_commands(make_project(repo, {}))

    assert deploy([]) == 2

    err = capsys.readouterr().err.strip()
    assert err.startswith("error: registered model 'demo-proj' has no version with alias")
    assert "\n" not in err
    assert client.get_registered_model(NAME).aliases == {}


def test_a_missing_api_key_secret_stops_before_the_registry(repo, client, monkeypatch, capsys):
    first = add_version(client, repo)
    monkeypatch.delenv("MEDAI_API_KEYS")
    before = registry_state(client)
    deploy, _ = deployment_commands(make_project(repo, {first: 0.9}))

    assert deploy(["--env", "production"]) == 2

    assert registry_state(client) == before
    assert "no API-key secret for production" in capsys.readouterr().err


@pytest.mark.parametrize(
    "secret",
    [
        ("MEDAI_API_KEYS_FILE", "/nonexistent/keys", "/nonexistent/keys"),
        ("MEDAI_API_KEYS", "short", "16"),
    ],
)
def test_an_unusable_api_key_secret_is_one_line_and_changes_nothing(
    repo, client, monkeypatch, capsys, secret
):
    variable, value, says = secret
    first = add_version(client, repo)
    monkeypatch.delenv("MEDAI_API_KEYS")
    monkeypatch.setenv(variable, value)
    before = registry_state(client)
    deploy, _ = deployment_commands(make_project(repo, {first: 0.9}))

    assert deploy(["--env", "staging"]) == 2

    err = capsys.readouterr().err
    assert err.startswith("error: environment: MEDAI_API_KEYS_FILE: API-key secret for staging: ")
    assert says in err
    assert err.count("\n") == 1
    assert registry_state(client) == before


def test_an_unknown_environment_is_refused(repo, client, capsys):
    first = add_version(client, repo)
    deploy, _ = deployment_commands(make_project(repo, {first: 0.9}))
    assert deploy(["--env", "moon"]) == 2
    assert "unknown environment 'moon'; known: staging, production" in capsys.readouterr().err


def test_an_unreachable_tracking_server_is_one_line(repo, monkeypatch, capsys):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{port}")
    deploy, rollback = deployment_commands(make_project(repo, {}))

    assert deploy([]) == 2
    assert rollback([]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2
    assert all(str(port) in line for line in lines)
