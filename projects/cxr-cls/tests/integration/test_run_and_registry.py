"""cxr-cls's own run: its ONNX export and card, champion-first evaluation, DICOM heatmaps."""

from __future__ import annotations

import json

import mlflow
import pytest
import yaml
from mlflow.tracking import MlflowClient

from cxr_cls.cli import evaluate_main, predict_main
from cxr_cls.data.synthetic import FINDINGS
from cxr_cls.settings import PROJECT
from medai.classification.evaluation import evaluate
from medai.classification.training_run import train
from medai.io import MedicalImageError

pytestmark = pytest.mark.integration


def set_args(overrides):
    return [arg for override in overrides for arg in ("--set", override)]


def client_of(trained_model) -> MlflowClient:
    uri = trained_model.settings.tracking.uri
    return MlflowClient(uri, registry_uri=uri)


def test_training_registers_a_challenger_with_its_onnx_export_and_card(trained_model):
    client = client_of(trained_model)
    version = client.get_model_version_by_alias("cxr-cls", "challenger")

    assert str(version.version) == trained_model.result.model_version
    assert version.run_id == trained_model.result.run_id
    for tag in ("medai.git_commit", "medai.config_hash", "medai.data_hash", "medai.uv_lock_hash"):
        assert version.tags[tag], tag
    assert version.tags["medai.kind"] == "classification"
    assert version.tags["medai.onnx_artifact"] == "onnx/model.onnx"
    assert json.loads(version.tags["medai.labels"]) == {str(k): f for k, f in enumerate(FINDINGS)}
    assert json.loads(version.tags["medai.thresholds"]) == dict.fromkeys(FINDINGS, 0.5)
    assert json.loads(version.tags["medai.preprocessing"])["image_size"] == 32

    run = client.get_run(trained_model.result.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags["medai.data_hash"] == version.tags["medai.data_hash"]
    assert run.inputs.dataset_inputs, "the dataset must be logged with mlflow.log_input"
    assert [m.step for m in client.get_metric_history(run.info.run_id, "val_auroc_macro")] == [1, 2]
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"plots", "config", "data", "onnx"} <= artifacts
    resolved = yaml.safe_load(
        mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/config/resolved.yaml")
    )
    assert resolved["train"]["epochs"] == 2
    assert resolved["data"]["source"] == "synthetic"


def test_evaluate_prefers_the_champion_and_tags_the_version_with_auroc_cis(trained_model):
    client = client_of(trained_model)
    version = trained_model.result.model_version
    client.set_registered_model_alias("cxr-cls", "champion", version)
    try:
        done = evaluate(PROJECT, trained_model.settings)
    finally:
        client.delete_registered_model_alias("cxr-cls", "champion")
    report = done.report

    assert (done.alias, done.model_version) == ("champion", version)
    assert done.split == "validation"
    assert report.labels == FINDINGS
    assert report.macro_auroc.n == report.n_images
    for name in ("per_label_metrics.csv", "summary.json", "roc_curves.png", "reliability.png"):
        assert (done.output_dir / name).stat().st_size > 0
    assert done.output_dir == trained_model.root / "reports" / f"cxr-cls-v{done.model_version}"
    tags = client.get_model_version("cxr-cls", version).tags
    assert tags["eval.primary_metric"] == "auroc_macro"
    assert tags["eval.run_id"] == done.run_id
    for key in ("eval.auroc_macro_mean", "eval.auroc_macro_ci_low", "eval.auroc_macro_ci_high"):
        assert key in tags
    assert float(tags["eval.auroc_macro_mean"]) == pytest.approx(report.macro_auroc.mean, abs=1e-4)


def test_evaluate_command_prints_one_line_per_finding(trained_model, capsys):
    assert evaluate_main(set_args(trained_model.overrides)) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"cxr-cls version {trained_model.result.model_version} (@challenger)")
    assert out[1].lstrip().startswith("macro AUROC")
    assert [line.split()[0] for line in out[2:6]] == list(FINDINGS)
    assert out[-1].startswith("report: ")


def test_predict_command_writes_json_and_a_heatmap_for_a_dicom(trained_model, tmp_path, capsys):
    dicom = min(trained_model.raw.rglob("*.dcm"))
    output = tmp_path / "result.json"

    code = predict_main(
        [str(dicom), str(output), "--heatmap", "effusion", *set_args(trained_model.overrides)]
    )

    assert code == 0, capsys.readouterr().err
    body = json.loads(output.read_text())
    assert list(body["probabilities"]) == list(FINDINGS)
    assert body["image"]["format"] == "dicom"
    assert (tmp_path / "result.effusion.png").stat().st_size > 0
    assert f"wrote {output}" in capsys.readouterr().out


def test_a_truncated_image_stops_training_and_leaves_the_registry_untouched(trained_model):
    data = PROJECT.load_data(trained_model.settings)
    victim = data.training_items()[0].path
    original = victim.read_bytes()
    client = client_of(trained_model)
    before = sorted(str(v.version) for v in client.search_model_versions("name='cxr-cls'"))
    victim.write_bytes(original[: len(original) // 3])
    try:
        with pytest.raises(MedicalImageError, match=rf"{victim.name}: "):
            train(PROJECT, trained_model.settings)
    finally:
        victim.write_bytes(original)
    after = sorted(str(v.version) for v in client.search_model_versions("name='cxr-cls'"))
    assert after == before
    challenger = client.get_model_version_by_alias("cxr-cls", "challenger")
    assert str(challenger.version) == trained_model.result.model_version
