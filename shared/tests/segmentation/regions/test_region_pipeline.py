"""End to end on four channels: train a region model 2 epochs, register, evaluate per region."""

from __future__ import annotations

import json
import math

import pytest
from mlflow import MlflowClient

from medai.segmentation.regions import CHANNELS_TAG, REGIONS_TAG, Regions
from medai.testing import train_demo

pytestmark = pytest.mark.integration

REGION_NAMES = ("whole_tumour", "tumour_core", "enhancing_tumour")


@pytest.fixture(scope="module")
def trained_tumours(tmp_path_factory, make_tumours):
    """The tumour project trained for 2 epochs into a throwaway store, then evaluated."""
    from medai.segmentation.evaluation import evaluate  # noqa: PLC0415 - heavy: MLflow
    from medai.segmentation.training import train  # noqa: PLC0415

    root = tmp_path_factory.mktemp("tumour-pipeline")
    shrink = ("train.epochs=2", "train.val_every=1", "evaluate.bootstrap_resamples=200")
    demo = make_tumours(root / "repo")
    done = train_demo(demo, root, train, evaluate, *shrink, "evaluate.overlay_cases=1")
    return done.settings, done.result, done.evaluation


def test_the_region_model_is_registered_with_its_channels_and_regions(trained_tumours):
    settings, result, _ = trained_tumours
    client = MlflowClient(settings.tracking.uri, registry_uri=settings.tracking.uri)
    version = client.get_model_version_by_alias("tumour-seg", "challenger")

    assert str(version.version) == result.model_version
    assert json.loads(version.tags[CHANNELS_TAG]) == ["T1", "T1c", "T2", "FLAIR"]
    regions = Regions.from_json(version.tags[REGIONS_TAG], "challenger")
    assert regions.names == REGION_NAMES
    assert regions.class_order == (1, 2, 3)
    assert float(version.tags["medai.onnx_max_abs_diff"]) < 1e-3
    assert json.loads(version.tags["medai.preprocessing"])["normalize"] == "zscore"


def test_evaluation_reports_dice_and_hd95_per_region_with_intervals(trained_tumours):
    _, _, report = trained_tumours

    for name in REGION_NAMES:
        dice = report.summary[f"dice_{name}"]
        assert 0.0 <= dice.low <= dice.mean <= dice.high <= 1.0
        assert f"hd95_{name}" in report.summary
    assert {row.label for row in report.rows} == set(REGION_NAMES)
    assert math.isfinite(report.mean_dice.mean)
    assert (report.output_dir / "overlays.png").is_file()
    assert (report.output_dir / "per_case_metrics.csv").is_file()
