"""The kit end to end on a non-CT project: train, register, evaluate, predict, load back."""

from __future__ import annotations

import json

import mlflow
import nibabel as nib
import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from medai.io import read_nifti
from medai.segmentation.prediction import predict_to_file
from medai.segmentation.registry import (
    LABELS_TAG,
    PREPROCESSING_TAG,
    load_model_version,
    load_registered_model,
)
from medai.tracking.errors import ModelNotFoundError
from medai.tracking.registry import tag_version

pytestmark = pytest.mark.integration


def client_for(trained) -> MlflowClient:
    uri = trained.settings.tracking.uri
    return MlflowClient(uri, registry_uri=uri)


def test_training_registers_a_challenger_with_its_export_preprocessing_and_labels(trained_demo):
    version = client_for(trained_demo).get_model_version_by_alias("sphere-seg", "challenger")

    assert str(version.version) == trained_demo.result.model_version
    assert version.tags["medai.onnx_artifact"] == "onnx/model.onnx"
    assert float(version.tags["medai.onnx_max_abs_diff"]) < 1e-3
    assert json.loads(version.tags[LABELS_TAG]) == {"0": "background", "1": "sphere"}
    # Every model names its input channels; only a region model carries regions.
    assert json.loads(version.tags["medai.channels"]) == ["CT"]
    assert "medai.regions" not in version.tags
    stored = json.loads(version.tags[PREPROCESSING_TAG])
    assert stored["patch_size"] == [16, 16, 16]
    assert version.tags["medai.project"] == "sphere-seg"
    assert version.tags["best_epoch"] in {"1", "2"}
    assert version.tags["medai.validation_metric"] == "best_val_dice_mean"


def test_training_says_how_its_version_compares_and_that_there_is_no_champion(trained_demo):
    result = trained_demo.result
    figures, verdict = result.comparison
    dice = f"{result.best_score:.3f}"
    assert figures == (
        f"sphere-seg version {result.model_version}: best_val_dice_mean {dice}; "
        "no previous challenger, no champion yet"
    )
    assert verdict.startswith("no champion yet: production serves nothing until `uv run invoke")


def test_evaluation_tags_the_version_with_its_primary_metric(trained_demo):
    report = trained_demo.evaluation
    version = client_for(trained_demo).get_model_version("sphere-seg", report.model_version)

    assert version.tags["eval.primary_metric"] == "dice_foreground"
    for suffix in ("mean", "ci_low", "ci_high"):
        assert float(version.tags[f"eval.dice_foreground_{suffix}"]) >= 0.0
    assert version.tags["eval.run_id"] == report.run_id
    assert {row.label for row in report.rows} == {"sphere"}
    for name in ("per_case_metrics.csv", "summary.json", "overlays.png"):
        assert (report.output_dir / name).stat().st_size > 0
    expected = trained_demo.demo.root / "projects/sphere-seg/outputs/evaluation"
    assert report.output_dir == expected / f"sphere-seg-v{report.model_version}"


def test_prediction_writes_a_mask_on_the_input_grid(trained_demo, tmp_path):
    demo, settings = trained_demo.demo, trained_demo.settings
    case = demo.project.load_data(settings).validation_cases()[0]

    output = predict_to_file(demo.project, settings, case.image, tmp_path / "mask.nii.gz")

    mask = nib.load(output)
    image = read_nifti(case.image)
    assert mask.shape == image.shape
    np.testing.assert_allclose(mask.affine, image.affine, atol=1e-5)
    assert set(np.unique(np.asarray(mask.dataobj))) <= {0, 1}


def test_a_loaded_model_uses_the_preprocessing_it_was_trained_with(trained_demo):
    demo = trained_demo.demo
    today = demo.binding.load(
        [
            f"tracking.uri={trained_demo.settings.tracking.uri}",
            "preprocessing.intensity_min=-50",
        ],
        environ={},
    )

    model = load_registered_model(demo.binding, today, "challenger")
    network = load_model_version(demo.binding, today, model.version)

    assert model.preprocessing == trained_demo.settings.preprocessing
    assert model.preprocessing.intensity_min == -200.0
    assert model.labels == {0: "background", 1: "sphere"}
    assert sum(p.numel() for p in network.parameters()) == sum(
        p.numel() for p in model.network.parameters()
    )


def test_a_version_from_older_code_is_refused_with_one_line(trained_demo):
    demo, settings = trained_demo.demo, trained_demo.settings
    version = trained_demo.result.model_version
    mlflow.set_tracking_uri(settings.tracking.uri)
    tag_version("sphere-seg", version, {PREPROCESSING_TAG: '{"hu_min": -200, "hu_max": 300}'})
    try:
        with pytest.raises(ModelNotFoundError, match=rf"sphere-seg version {version}: .*again"):
            load_registered_model(demo.binding, settings, "challenger")
    finally:
        tag_version(
            "sphere-seg", version, {PREPROCESSING_TAG: settings.preprocessing.model_dump_json()}
        )
