"""The kit end to end on a demo project: train, register, evaluate, predict, load, serve."""

from __future__ import annotations

import json

import mlflow
import numpy as np
import pytest
from mlflow.tracking import MlflowClient
from PIL import Image

from medai.classification.prediction import predict_to_file
from medai.classification.registry import (
    LABELS_TAG,
    PREPROCESSING_TAG,
    THRESHOLDS_TAG,
    load_model_version,
    load_registered_model,
)
from medai.classification.serving.model import load_onnx_model, load_torch_model
from medai.classification.training_run import train
from medai.config import ConfigError
from medai.export import OnnxExportError
from medai.io import read_radiograph
from medai.serving.launch import materialize_model
from medai.tracking.errors import ModelNotFoundError
from medai.tracking.registry import tag_version

pytestmark = pytest.mark.integration


def client_for(trained) -> MlflowClient:
    uri = trained.settings.tracking.uri
    return MlflowClient(uri, registry_uri=uri)


def test_training_registers_a_challenger_with_its_export_and_card_tags(trained_demo):
    client = client_for(trained_demo)
    version = client.get_model_version_by_alias("shape-cls", "challenger")

    assert str(version.version) == trained_demo.result.model_version
    assert version.tags["medai.kind"] == "classification"
    assert version.tags["medai.onnx_artifact"] == "onnx/model.onnx"
    assert float(version.tags["medai.onnx_max_abs_diff"]) < 1e-3
    assert json.loads(version.tags[LABELS_TAG]) == {"0": "square", "1": "bar"}
    assert json.loads(version.tags[THRESHOLDS_TAG]) == {"square": 0.5, "bar": 0.5}
    assert json.loads(version.tags[PREPROCESSING_TAG]) == {
        "image_size": 32,
        "standardize": False,
        "image_step": "none",
    }
    assert version.tags["medai.project"] == "shape-cls"
    assert version.tags["medai.data_hash"]
    run = client.get_run(trained_demo.result.run_id)
    assert run.info.status == "FINISHED"
    history = client.get_metric_history(run.info.run_id, "val_auroc_macro")
    assert [m.step for m in history] == [1, 2, 3, 4]
    assert len(client.get_metric_history(run.info.run_id, "train_loss")) == 4
    assert run.data.metrics["best_val_auroc_macro"] == pytest.approx(trained_demo.result.best_score)
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"plots", "config", "data", "onnx"} <= artifacts
    assert run.inputs.dataset_inputs, "the dataset must be logged with mlflow.log_input"
    assert version.tags["medai.validation_metric"] == "best_val_auroc_macro"


def test_training_says_how_its_version_compares_and_that_there_is_no_champion(trained_demo):
    result = trained_demo.result
    figures, verdict = result.comparison
    auroc = f"{result.best_score:.3f}"
    assert figures == (
        f"shape-cls version {result.model_version}: best_val_auroc_macro {auroc}; "
        "no previous challenger, no champion yet"
    )
    assert verdict.startswith("no champion yet: production serves nothing until `uv run invoke")


def test_the_demo_model_learns_the_shapes(trained_demo):
    assert trained_demo.result.best_score > 0.8


def test_evaluation_writes_the_report_and_tags_the_version(trained_demo):
    done = trained_demo.evaluation
    report = done.report
    version = client_for(trained_demo).get_model_version("shape-cls", done.model_version)

    assert done.split == "validation"
    assert report.labels == ("square", "bar")
    assert report.macro_auroc.low <= report.macro_auroc.mean <= report.macro_auroc.high
    assert version.tags["eval.primary_metric"] == "auroc_macro"
    assert float(version.tags["eval.auroc_macro_mean"]) == pytest.approx(
        report.macro_auroc.mean, abs=1e-4
    )
    for suffix in ("ci_low", "ci_high"):
        assert 0.0 <= float(version.tags[f"eval.auroc_macro_{suffix}"]) <= 1.0
    assert version.tags["eval.run_id"] == done.run_id
    expected = trained_demo.demo.root / "projects/shape-cls/outputs/evaluation"
    assert done.output_dir == expected / f"shape-cls-v{done.model_version}"
    files = ("per_label_metrics.csv", "summary.json", "roc_curves.png", "reliability.png")
    for name in (*files, "gradcam.png"):
        assert (done.output_dir / name).stat().st_size > 0
    summary = json.loads((done.output_dir / "summary.json").read_text())
    assert summary["primary_metric"] == "auroc_macro"
    assert set(summary["per_label"]) == {"square", "bar"}
    client = client_for(trained_demo)
    logged = {a.path for a in client.list_artifacts(done.run_id, "evaluation")}
    assert {f"evaluation/{name}" for name in files} <= logged
    run = client.get_run(done.run_id)
    assert run.data.tags["medai.model_version"] == done.model_version
    assert run.data.metrics["auroc_macro_mean"] == pytest.approx(report.macro_auroc.mean)


def test_evaluation_refuses_a_dataset_with_other_labels(trained_demo):
    from medai.classification.evaluation import evaluate  # noqa: PLC0415

    demo, settings = trained_demo.demo, trained_demo.settings
    renamed = demo.load(
        f"tracking.uri={settings.tracking.uri}",
        "data.source=csv",
        f"data.csv.path={demo.project.load_data(settings).root / 'labels.csv'}",
        'data.labels=["bar", "square"]',
    )
    with pytest.raises(ConfigError, match=r"data.labels: \['bar', 'square'\] differ from the lab"):
        evaluate(demo.project, renamed)


def test_prediction_writes_json_and_heatmaps_beside_it(trained_demo, tmp_path):
    demo, settings = trained_demo.demo, trained_demo.settings
    item = demo.project.load_data(settings).validation_items()[0]
    output = tmp_path / "out" / "result.json"

    written = predict_to_file(demo.project, settings, item.path, output, heatmaps=["all"])

    body = json.loads(output.read_text())
    assert body["model_name"] == "shape-cls"
    assert set(body["probabilities"]) == {"square", "bar"}
    assert body["heatmaps"] == []
    assert [p.name for p in written.heatmaps] == ["result.square.png", "result.bar.png"]
    with Image.open(written.heatmaps[0]) as heatmap:
        assert heatmap.size == (32, 32)
    assert not list(output.parent.glob(".partial-*"))


def test_a_loaded_model_uses_what_it_was_registered_with(trained_demo):
    demo, settings = trained_demo.demo, trained_demo.settings
    today = demo.load(
        f"tracking.uri={settings.tracking.uri}",
        "preprocessing.image_size=64",
        "evaluate.thresholds=0.9",
    )

    model = load_registered_model(demo.binding, today, "challenger")

    assert model.preprocessing.image_size == 32
    assert model.thresholds == {"square": 0.5, "bar": 0.5}
    assert model.labels == ("square", "bar")
    network = load_model_version(demo.binding, today, model.version)
    assert network.num_labels == 2


def test_a_version_from_older_code_is_refused_with_one_line(trained_demo):
    demo, settings = trained_demo.demo, trained_demo.settings
    version = trained_demo.result.model_version
    mlflow.set_tracking_uri(settings.tracking.uri)
    tag_version("shape-cls", version, {PREPROCESSING_TAG: '{"patch_size": [64, 64, 64]}'})
    try:
        with pytest.raises(ModelNotFoundError, match=rf"shape-cls version {version}: .*again"):
            load_registered_model(demo.binding, settings, "challenger")
    finally:
        tag_version(
            "shape-cls", version, {PREPROCESSING_TAG: settings.preprocessing.model_dump_json()}
        )


def test_materialized_onnx_and_torch_backends_agree(trained_demo, tmp_path):
    demo, settings = trained_demo.demo, trained_demo.settings
    model_dir = materialize_model(settings, demo.binding.repo_root, tmp_path, alias="challenger")
    item = demo.project.load_data(settings).validation_items()[0]
    pixels = read_radiograph(item.path).pixels

    onnx = load_onnx_model(model_dir, settings)
    torch_model = load_torch_model(demo.binding, model_dir, settings)

    assert onnx.labels == torch_model.labels == ("square", "bar")
    assert onnx.thresholds == {"square": 0.5, "bar": 0.5}
    a, b = onnx.predict(pixels), torch_model.predict(pixels)
    for label in onnx.labels:
        assert a.probabilities[label] == pytest.approx(b.probabilities[label], abs=1e-4)
    np.testing.assert_allclose(a.cams, b.cams, atol=1e-3, rtol=1e-3)


def test_a_run_whose_export_fails_its_check_registers_nothing(trained_demo, monkeypatch):
    from medai.tracking import publish  # noqa: PLC0415

    demo, settings = trained_demo.demo, trained_demo.settings
    client = client_for(trained_demo)
    before = sorted(v.version for v in client.search_model_versions("name='shape-cls'"))

    def onnx_differs(_network, path, _examples, **_tolerances):
        raise OnnxExportError(f"{path}: ONNX output 'cams' differs from torch by up to 0.5")

    monkeypatch.setattr(publish, "check_onnx_matches", onnx_differs)
    with pytest.raises(OnnxExportError, match="differs from torch"):
        train(demo.project, demo.load(f"tracking.uri={settings.tracking.uri}", "train.epochs=1"))

    after = sorted(v.version for v in client.search_model_versions("name='shape-cls'"))
    assert after == before
    challenger = client.get_model_version_by_alias("shape-cls", "challenger")
    assert str(challenger.version) == trained_demo.result.model_version
    failed = client.search_runs(
        [client.get_run(trained_demo.result.run_id).info.experiment_id],
        "attributes.status = 'FAILED'",
    )
    assert failed, "the broken run must be visible as FAILED"
