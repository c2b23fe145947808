"""tools/answers.py: copier's answers file, read as the YAML it is, refused in one line when not."""

from __future__ import annotations

import pytest
import yaml
from tools.answers import (
    answers_path,
    kind_answers_text,
    made_from_template,
    read_answers,
    recorded_commit,
    user_answers,
)
from tools.errors import ToolError


@pytest.mark.parametrize(
    ("text", "commit"),
    [
        ("_commit: abc1234\n_src_path: .\n", "abc1234"),
        ("_commit: 'v1.2-3-gabc1234'\n", "v1.2-3-gabc1234"),
        ("_commit: 1234567\n", "1234567"),  # digits only and unquoted: a YAML number
        ("# made by copier\n_src_path: .\n", ""),
        ("", ""),
    ],
)
def test_the_recorded_commit_is_read_from_the_yaml(tmp_path, text, commit):
    path = tmp_path / ".copier-answers.yml"
    path.write_text(text)
    assert recorded_commit(path) == commit


def test_a_commit_line_inside_a_block_is_not_taken_for_the_key(tmp_path):
    path = tmp_path / ".copier-answers.yml"
    path.write_text("description: |\n  _commit: not-this\n_commit: this\n")
    assert recorded_commit(path) == "this"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("- a list\n", "expected a mapping of copier answers, got list"),
        ("_commit: [a, b]\n", "_commit: expected a commit hash or tag, got list"),
        ("_commit: true\n", "_commit: expected a commit hash or tag, got bool"),
        ("_commit: 'a\n", "not valid YAML"),
    ],
)
def test_answers_that_are_not_what_copier_writes_are_refused_naming_the_file(tmp_path, text, says):
    path = tmp_path / ".copier-answers.yml"
    path.write_text(text)
    with pytest.raises(ToolError) as caught:
        recorded_commit(path)
    message = str(caught.value.message)
    assert message.startswith(f"{path}: ")
    assert says in message
    assert "\n" not in message
    assert caught.value.code == 2


def test_a_project_is_made_from_the_template_when_it_has_answers(tmp_path):
    assert answers_path(tmp_path, "p") == tmp_path / "projects" / "p" / ".copier-answers.yml"
    assert not made_from_template(tmp_path, "p")
    answers_path(tmp_path, "p").parent.mkdir(parents=True)
    answers_path(tmp_path, "p").write_text("_commit: abc\nkind: segmentation\n")
    assert made_from_template(tmp_path, "p")
    assert read_answers(answers_path(tmp_path, "p")) == {"_commit": "abc", "kind": "segmentation"}


PRE_SPLIT_ANSWERS = """\
# Changes here will be overwritten by Copier; do not edit by hand.
_commit: 1267b7c
_src_path: .
description: 'CT segmentation: a long sentence, quoted because of its colon'
kind: segmentation
modality: CT
project_name: ct-seg
target: an organ and its lesions
"""


def test_the_kind_layer_answers_of_a_pre_split_project_are_its_answers_with_layer_kind(tmp_path):
    common = tmp_path / ".copier-answers.yml"
    common.write_text(PRE_SPLIT_ANSWERS)
    text = kind_answers_text(common)
    assert text.startswith("# Changes here will be overwritten by Copier; do not edit by hand.\n")
    assert yaml.safe_load(text) == {**yaml.safe_load(PRE_SPLIT_ANSWERS), "layer": "kind"}
    kind = tmp_path / ".copier-answers.kind.yml"
    kind.write_text(text)
    assert recorded_commit(kind) == "1267b7c"
    assert answers_path(tmp_path, "p", "kind").name == ".copier-answers.kind.yml"


def test_the_user_answers_leave_out_copiers_keys_and_the_layer(tmp_path):
    path = tmp_path / ".copier-answers.yml"
    path.write_text(
        PRE_SPLIT_ANSWERS.replace("kind: segmentation", "kind: segmentation\nlayer: common")
    )
    assert user_answers(path) == {
        "description": "CT segmentation: a long sentence, quoted because of its colon",
        "kind": "segmentation",
        "modality": "CT",
        "project_name": "ct-seg",
        "target": "an organ and its lesions",
    }
