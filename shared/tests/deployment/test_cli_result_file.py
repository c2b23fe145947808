"""deploy --result-file: the outcome as JSON for programs, against a real MLflow registry.

``invoke deploy`` reads the champion version from this file; the printed lines are for
people and may change. The project side is a scorer with fixed Dice per version, as in
test_commands.py.
"""

from __future__ import annotations

import json
import shutil
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
    return migrated_mlflow_store(tmp_path_factory.mktemp("template"))


@pytest.fixture
def repo(tmp_path, monkeypatch, empty_store) -> Path:
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


@pytest.fixture
def project(repo) -> ScoredProject:
    package_file = repo / "projects" / NAME / "src" / "demo_proj" / "__init__.py"
    return ScoredProject(ProjectBinding(package_file, ProjectSettings), {})


def add_challenger(client: MlflowClient, repo: Path) -> str:
    if not client.search_registered_models(f"name='{NAME}'"):
        client.create_registered_model(NAME)
    version = str(client.create_model_version(NAME, source=repo.as_uri()).version)
    client.set_registered_model_alias(NAME, "challenger", version)
    return version


def test_a_promotion_writes_the_new_champion_version(repo, client, project, tmp_path):
    first = add_challenger(client, repo)
    project.dice[first] = 0.8
    deploy, _ = deployment_commands(project)
    result = tmp_path / "result.json"

    assert deploy(["--env", "production", "--result-file", str(result)]) == 0

    assert json.loads(result.read_text()) == {
        "model": NAME,
        "environment": "production",
        "outcome": "promoted",
        "promoted": True,
        "alias": "champion",
        "version": first,
        "challenger_version": first,
        "reason": client.get_model_version(NAME, first).tags["deploy.reason"],
    }
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".result.json.")]


def test_a_challenger_that_is_champion_already_is_reported_as_such(repo, client, project, tmp_path):
    first = add_challenger(client, repo)
    project.dice[first] = 0.8
    deploy, _ = deployment_commands(project)
    assert deploy([]) == 0
    result = tmp_path / "result.json"

    assert deploy(["--result-file", str(result)]) == 0

    written = json.loads(result.read_text())
    assert (written["outcome"], written["promoted"], written["version"]) == (
        "already_champion",
        False,
        first,
    )


def test_a_refusal_writes_the_kept_champion_and_why(repo, client, project, tmp_path):
    first = add_challenger(client, repo)
    project.dice[first] = 0.9
    deploy, _ = deployment_commands(project)
    assert deploy([]) == 0
    second = add_challenger(client, repo)
    project.dice[second] = 0.85
    result = tmp_path / "result.json"

    assert deploy(["--result-file", str(result)]) == 1

    written = json.loads(result.read_text())
    assert written["outcome"] == "refused"
    assert written["promoted"] is False
    assert (written["version"], written["challenger_version"]) == (first, second)
    assert written["reason"].startswith(f"challenger v{second} does not beat champion v{first}")


def test_a_user_error_leaves_no_result_not_even_a_stale_one(client, project, tmp_path):
    client.create_registered_model(NAME)  # no challenger: exit 2 before any decision
    result = tmp_path / "result.json"
    result.write_text('{"outcome": "promoted", "version": "7"}')
    deploy, _ = deployment_commands(project)

    assert deploy(["--result-file", str(result)]) == 2

    assert not result.exists()


@pytest.mark.parametrize(
    "case",
    [("missing/result.json", "does not exist"), (".", "is a folder; expected a file path")],
)
def test_a_result_file_that_could_not_be_written_stops_before_the_gate(
    client, project, tmp_path, capsys, case
):
    where, says = case
    first = add_challenger(client, tmp_path)
    project.dice[first] = 0.8
    deploy, _ = deployment_commands(project)

    with pytest.raises(SystemExit) as stopped:
        deploy(["--result-file", str(tmp_path / where)])

    assert stopped.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith(says)
    assert "champion" not in client.get_registered_model(NAME).aliases
