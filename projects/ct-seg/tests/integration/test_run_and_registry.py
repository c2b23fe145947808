"""ct-seg's own run: lineage, the champion alias, evaluation, prediction, a failed training.

It runs after test_promotion.py (by file name), which needs a store with no champion yet.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import mlflow
import nibabel as nib
import numpy as np
import pytest
import yaml
from mlflow.tracking import MlflowClient

from ct_seg.cli import predict_main
from ct_seg.settings import BINDING, PROJECT
from medai.io import MedicalImageError, read_dicom_series, read_nifti
from medai.segmentation.evaluation import evaluate
from medai.segmentation.prediction import predict_to_file
from medai.segmentation.training import train
from medai.tracking.registry import CHAMPION, resolve_alias, set_alias

pytestmark = pytest.mark.integration


def set_args(overrides):
    return [arg for override in overrides for arg in ("--set", override)]


def test_training_registers_model_as_challenger_with_lineage(trained_model):
    settings = trained_model.settings
    mlflow.set_tracking_uri(settings.tracking.uri)
    client = MlflowClient(settings.tracking.uri, registry_uri=settings.tracking.uri)
    version = client.get_model_version_by_alias("ct-seg", "challenger")
    assert str(version.version) == trained_model.result.model_version
    assert version.run_id == trained_model.result.run_id
    for tag in ("medai.git_commit", "medai.config_hash", "medai.data_hash", "medai.uv_lock_hash"):
        assert version.tags[tag], tag
    assert json.loads(version.tags["medai.labels"]) == {
        "0": "background",
        "1": "organ",
        "2": "lesion",
    }

    run = client.get_run(trained_model.result.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags["medai.data_hash"] == version.tags["medai.data_hash"]
    assert run.inputs.dataset_inputs, "the dataset must be logged with mlflow.log_input"
    history = client.get_metric_history(run.info.run_id, "val_dice_mean")
    assert [m.step for m in history] == [1, 2]
    assert len(client.get_metric_history(run.info.run_id, "train_loss")) == 2
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"checkpoints", "plots", "config", "data"} <= artifacts
    local = mlflow.artifacts.download_artifacts(
        run_id=run.info.run_id,
        artifact_path="config/resolved.yaml",
        dst_path=str(trained_model.root / "dl"),
    )
    resolved = yaml.safe_load(Path(local).read_text(encoding="utf-8"))
    assert resolved["train"]["epochs"] == 2
    assert resolved["environment"] == "development"


def test_alias_resolution_prefers_champion_over_challenger(trained_model):
    """Whichever order the tests run in: the template's gate checks promote the session model."""
    mlflow.set_tracking_uri(trained_model.settings.tracking.uri)
    client = MlflowClient()
    promoted = CHAMPION in client.get_registered_model("ct-seg").aliases
    if promoted:
        client.delete_registered_model_alias("ct-seg", CHAMPION)
    try:
        alias, version = resolve_alias("ct-seg")
        assert (alias, str(version.version)) == ("challenger", trained_model.result.model_version)
        set_alias("ct-seg", CHAMPION, trained_model.result.model_version)
        alias, _ = resolve_alias("ct-seg")
        assert alias == "champion"
    finally:
        if promoted:
            set_alias("ct-seg", CHAMPION, trained_model.result.model_version)
        else:
            client.delete_registered_model_alias("ct-seg", CHAMPION)


def test_evaluate_reports_dice_and_hd95_with_confidence_intervals(trained_model):
    mlflow.set_tracking_uri(trained_model.settings.tracking.uri)
    resolved, _ = resolve_alias("ct-seg")  # champion once the template's gate checks ran
    report = evaluate(PROJECT, trained_model.settings)
    assert (report.alias, report.model_version) == (resolved, trained_model.result.model_version)
    labels = {row.label for row in report.rows}
    assert labels == {"organ", "lesion"}
    for key in ("dice_organ", "dice_lesion", "hd95_organ", "dice_foreground"):
        estimate = report.summary[key]
        assert estimate.n >= 1 or key.startswith("hd95")
        if estimate.n:
            assert estimate.low <= estimate.mean <= estimate.high
    for name in ("per_case_metrics.csv", "summary.json", "overlays.png"):
        assert (report.output_dir / name).stat().st_size > 0
    client = MlflowClient(trained_model.settings.tracking.uri)
    run = client.get_run(report.run_id)
    assert run.data.tags["medai.model_version"] == trained_model.result.model_version
    assert "dice_foreground_mean" in run.data.metrics
    version = client.get_model_version("ct-seg", trained_model.result.model_version)
    assert version.tags["eval.run_id"] == report.run_id
    assert version.tags["eval.primary_metric"] == "dice_foreground"
    assert float(version.tags["eval.dice_foreground_mean"]) == pytest.approx(
        report.mean_dice.mean, abs=1e-4
    )


def test_predict_nifti_keeps_the_input_affine_and_shape(trained_model, tmp_path):
    dataset_dir = next((trained_model.root / "data" / "raw").iterdir())
    source = min((dataset_dir / "imagesTr").glob("*.nii.gz"))
    # An oblique, anisotropic affine: the mask must come back on exactly this grid.
    image = nib.load(source)
    affine = image.affine.copy()
    affine[:3, :3] = affine[:3, :3] @ np.diag([1.0, 1.2, 0.8])
    affine[:3, 3] += [5.0, -3.0, 2.0]
    moved = tmp_path / "moved.nii.gz"
    nib.save(nib.Nifti1Image(np.asarray(image.dataobj), affine), moved)

    output = predict_to_file(
        PROJECT, trained_model.settings, moved, tmp_path / "out" / "mask.nii.gz"
    )
    mask = nib.load(output)
    assert mask.shape == image.shape
    np.testing.assert_allclose(mask.affine, read_nifti(moved).affine, atol=1e-5)
    assert set(np.unique(np.asarray(mask.dataobj))) <= {0, 1, 2}
    assert not list((tmp_path / "out").glob(".partial-*")), "no temporary file may be left behind"


def test_predict_dicom_series_writes_mask_on_the_series_grid(
    trained_model, dicom_series, tmp_path, capsys
):
    output = tmp_path / "dicom_mask.nii.gz"
    code = predict_main([str(dicom_series), str(output), *set_args(trained_model.overrides)])
    assert code == 0, capsys.readouterr().err
    series = read_dicom_series(dicom_series)
    mask = nib.load(output)
    assert mask.shape == series.shape
    np.testing.assert_allclose(mask.affine, series.affine, atol=1e-4)


def test_predict_cli_refuses_a_truncated_nifti_without_writing(trained_model, tmp_path, capsys):
    broken = tmp_path / "broken.nii.gz"
    dataset_dir = next((trained_model.root / "data" / "raw").iterdir())
    good = min((dataset_dir / "imagesTr").glob("*.nii.gz")).read_bytes()
    broken.write_bytes(good[: len(good) // 2])
    output = tmp_path / "never.nii.gz"
    code = predict_main([str(broken), str(output), *set_args(trained_model.overrides)])
    err = capsys.readouterr().err
    assert code == 2
    assert "broken.nii.gz" in err
    assert err.count("\n") == 1
    assert not output.exists()


def test_failed_training_leaves_registry_and_aliases_untouched(trained_model, tmp_path):
    # A copy of the dataset whose first label map holds a value dataset.json does not declare.
    source = next((trained_model.root / "data" / "raw").iterdir())
    broken = tmp_path / "broken-dataset"
    shutil.copytree(source, broken)
    label_path = min((broken / "labelsTr").glob("*.nii.gz"))
    label = nib.load(label_path)
    data = np.asarray(label.dataobj).copy()
    data[0, 0, 0] = 9
    nib.save(nib.Nifti1Image(data, label.affine, label.header), label_path)

    settings = BINDING.load([*trained_model.overrides, f"data.dataset_dir={broken}"], environ={})
    client = MlflowClient(settings.tracking.uri)
    before = sorted(str(v.version) for v in client.search_model_versions("name='ct-seg'"))
    with pytest.raises(MedicalImageError, match=rf"{label_path.name}: label values \[9\]"):
        train(PROJECT, settings)
    after = sorted(str(v.version) for v in client.search_model_versions("name='ct-seg'"))
    assert after == before
    challenger = client.get_model_version_by_alias("ct-seg", "challenger")
    assert str(challenger.version) == trained_model.result.model_version
