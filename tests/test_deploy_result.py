"""tools/deploy_result.py reads what medai.deployment.cli writes; anything else is one line."""

from __future__ import annotations

import json

import pytest
from tools.deploy_result import read_deploy_outcome
from tools.errors import ToolError

from medai.deployment.cli import DeployResult


@pytest.mark.parametrize(
    ("outcome", "version", "in_place"),
    [
        ("promoted", "12", True),
        ("already_champion", "3", True),
        ("refused", "2", False),
        ("refused", None, False),
    ],
)
def test_what_the_deploy_script_writes_is_read_back(tmp_path, outcome, version, in_place):
    path = tmp_path / "result.json"
    DeployResult("ct-seg", "production", outcome, version, "12", "why").write(path)

    read = read_deploy_outcome(path)

    assert (read.outcome, read.version, read.model, read.environment) == (
        outcome,
        version,
        "ct-seg",
        "production",
    )
    assert read.champion_in_place is in_place


def test_a_missing_result_file_is_one_line(tmp_path):
    with pytest.raises(ToolError, match=r"^the deploy script wrote no result file \(") as caught:
        read_deploy_outcome(tmp_path / "result.json")
    assert caught.value.code == 2


GOOD = {"model": "ct-seg", "environment": "staging", "outcome": "promoted", "version": "1"}


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("promoted ct-seg v12 to champion\n", "not JSON (Expecting value at line 1)"),
        ("[1, 2]", "expected a JSON object, got list"),
        (json.dumps({**GOOD, "outcome": "maybe"}), "outcome: expected one of"),
        (json.dumps({**GOOD, "version": 12}), "version: expected a non-empty string, got 12"),
        (json.dumps({k: v for k, v in GOOD.items() if k != "model"}), "model: expected a"),
    ],
)
def test_a_result_that_is_not_the_format_names_the_file_and_the_field(tmp_path, content, says):
    path = tmp_path / "result.json"
    path.write_text(content)
    with pytest.raises(ToolError) as caught:
        read_deploy_outcome(path)
    message = str(caught.value.message)
    assert message.startswith(f"{path}: ")
    assert says in message
