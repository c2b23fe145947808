"""A small cxr-cls classifier trained into a temporary store, registered, used."""

from __future__ import annotations

import json

import pytest

from cxr_cls.cli import evaluate_main, predict_main
from cxr_cls.settings import BINDING, PROJECT
from cxr_cls.utils.medical_utils import LABELS

pytestmark = pytest.mark.integration


def test_training_registers_a_challenger_with_its_labels_and_lineage(trained, registry):
    challenger = registry.get_model_version_by_alias("cxr-cls", "challenger")

    assert (challenger.run_id, str(challenger.version)) == (trained.run_id, trained.model_version)
    assert json.loads(challenger.tags["medai.labels"]) == {str(i): n for i, n in enumerate(LABELS)}
    assert challenger.tags["medai.kind"] == "classification"
    assert challenger.tags["medai.git_commit"]
    assert 0.0 <= trained.best_score <= 1.0
    history = registry.get_metric_history(trained.run_id, "val_auroc_macro")
    assert [point.step for point in history] == [1, 2]


@pytest.mark.usefixtures("trained")
def test_the_predict_command_writes_a_probability_per_label(
    session_overrides, session_options, tmp_path, capsys
):
    data = PROJECT.load_data(BINDING.load(session_overrides, environ={}))
    image = data.validation_items()[0].path
    output = tmp_path / "answer.json"

    assert predict_main([str(image), str(output), *session_options]) == 0
    assert f"wrote {output}" in capsys.readouterr().out
    probabilities = json.loads(output.read_text())["probabilities"]
    assert list(probabilities) == list(LABELS)
    assert all(0.0 <= value <= 1.0 for value in probabilities.values())


def test_the_evaluate_command_reports_macro_auroc_and_each_label(trained, session_options, capsys):
    assert evaluate_main(["--alias", "challenger", *session_options]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"cxr-cls version {trained.model_version} (@challenger)")
    assert lines[1].lstrip().startswith("macro AUROC")
    assert [line.split()[0] for line in lines[2 : 2 + len(LABELS)]] == list(LABELS)
