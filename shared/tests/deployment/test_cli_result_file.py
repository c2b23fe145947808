"""deploy --result-file: the outcome as JSON for programs, against a real MLflow registry.

``invoke deploy`` reads the champion version from this file; the printed lines are for
people and may change. The registry, the demo repo and its scored project are the
fixtures of conftest.py.
"""

from __future__ import annotations

import json

import pytest

from medai.deployment import deployment_commands


def test_a_promotion_writes_the_new_champion_version(registry, project, tmp_path):
    first = registry.add_version(0.8)
    deploy, _ = deployment_commands(project)
    result = tmp_path / "result.json"

    assert deploy(["--env", "production", "--result-file", str(result)]) == 0

    assert json.loads(result.read_text()) == {
        "model": registry.name,
        "environment": "production",
        "outcome": "promoted",
        "promoted": True,
        "alias": "champion",
        "version": first,
        "challenger_version": first,
        "reason": registry.tags(first)["deploy.reason"],
    }
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".result.json.")]


def test_a_challenger_that_is_champion_already_is_reported_as_such(registry, project, tmp_path):
    first = registry.add_version(0.8)
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


def test_a_refusal_writes_the_kept_champion_and_why(registry, project, tmp_path):
    first = registry.add_version(0.9)
    deploy, _ = deployment_commands(project)
    assert deploy([]) == 0
    second = registry.add_version(0.85)
    result = tmp_path / "result.json"

    assert deploy(["--result-file", str(result)]) == 1

    written = json.loads(result.read_text())
    assert written["outcome"] == "refused"
    assert written["promoted"] is False
    assert (written["version"], written["challenger_version"]) == (first, second)
    assert written["reason"].startswith(f"challenger v{second} does not beat champion v{first}")


def test_a_user_error_leaves_no_result_not_even_a_stale_one(registry, project, tmp_path):
    # A model with no challenger: exit 2 before any decision.
    registry.client.create_registered_model(registry.name)
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
    registry, project, tmp_path, capsys, case
):
    where, says = case
    registry.add_version(0.8)
    deploy, _ = deployment_commands(project)

    with pytest.raises(SystemExit) as stopped:
        deploy(["--result-file", str(tmp_path / where)])

    assert stopped.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith(says)
    assert "champion" not in registry.aliases()
