"""The kind's extension points: a project's normaliser, metrics and figure are the ones used."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from medai.config import ConfigError
from medai.inference import plan_volume_segmentation
from medai.inference.normalize import hu_window
from medai.io import Volume
from medai.metrics import Estimate
from medai.segmentation.evaluation import (
    CaseRow,
    EvaluationReport,
    _summaries,
    gate_scores,
    score_structures,
)
from medai.segmentation.extensions import StructureMetric
from medai.segmentation.onnx_segmenter import OnnxSegmenter
from medai.segmentation.project import SegmentationProject
from medai.segmentation.regions import Regions
from medai.segmentation.segmenter import Segmenter
from medai.segmentation.settings import InferenceSettings, PreprocessingSettings
from medai.segmentation.transforms import IMAGE, ProjectNormalized, volume_to_metatensor

PROJECT_PREP = PreprocessingSettings(
    target_spacing=(2.0, 2.0, 2.0), patch_size=(16, 16, 16), normalize="project"
)
INFERENCE = InferenceSettings(sw_batch_size=2, overlap=0.25)


class RecordingNormalizer:
    """The default window, applied before resampling; remembers each image it saw."""

    def __init__(self) -> None:
        self.shapes: list[tuple[int, ...]] = []

    def __call__(self, image: NDArray[Any]) -> NDArray[np.float32]:
        self.shapes.append(tuple(image.shape))
        return hu_window(image, -200.0, 300.0)


def shrinking(image: NDArray[Any]) -> NDArray[np.float32]:
    return np.zeros(image.shape[1:], dtype=np.float32)


def volume_error_ml(predicted: NDArray[np.bool_], true: NDArray[np.bool_], spacing) -> float:
    voxel_ml = float(np.prod(spacing)) / 1000.0
    return abs(int(predicted.sum()) - int(true.sum())) * voxel_ml


VOLUME_ERROR = StructureMetric("volume_error_ml", volume_error_ml, higher_is_better=False)


# ------------------------------------------------------------------------------ normaliser


def test_both_backends_run_the_projects_normaliser_on_the_whole_input_grid(
    trained_unet, onnx_path, make_sphere
):
    volume, _ = make_sphere((30, 28, 20), np.diag([1.5, 1.5, 1.5, 1.0]))
    seen_torch, seen_onnx = RecordingNormalizer(), RecordingNormalizer()
    torch_masks = Segmenter(trained_unet, PROJECT_PREP, INFERENCE, normalizer=seen_torch).segment(
        volume
    )
    onnx_masks = OnnxSegmenter(onnx_path, PROJECT_PREP, INFERENCE, normalizer=seen_onnx).segment(
        volume
    )
    assert seen_torch.shapes == seen_onnx.shapes == [(1, 30, 28, 20)]  # input grid, once
    agreement = float(np.mean(torch_masks == onnx_masks))
    assert agreement > 0.999
    assert 0 < int(onnx_masks.sum()) < onnx_masks.size  # a real segmentation, not all one


def test_the_monai_chain_keeps_the_affine_and_applies_the_function():
    normaliser = RecordingNormalizer()
    affine = np.diag([2.0, 1.0, 3.0, 1.0])
    image = volume_to_metatensor(Volume(np.full((4, 5, 6), 50.0, dtype=np.float32), affine))
    out = ProjectNormalized(normaliser)({IMAGE: image})[IMAGE]
    assert np.allclose(out.numpy(), 0.5)  # (50 + 200) / 500
    assert np.allclose(out.affine.numpy(), affine)


def test_a_normaliser_that_changes_the_shape_is_named_in_both_backends(onnx_path):
    volume = Volume(np.zeros((20, 20, 20), dtype=np.float32), np.eye(4))
    with pytest.raises(ValueError, match=r"normalizer returned shape \(20, 20, 20\)"):
        OnnxSegmenter(onnx_path, PROJECT_PREP, INFERENCE, normalizer=shrinking).preprocess(volume)
    image = volume_to_metatensor(volume)
    with pytest.raises(ValueError, match=r"normalizer returned shape \(20, 20, 20\)"):
        ProjectNormalized(shrinking)({IMAGE: image})


def test_a_model_trained_with_a_project_normaliser_needs_one(onnx_path):
    with pytest.raises(ValueError, match="normalize: project"):
        OnnxSegmenter(onnx_path, PROJECT_PREP, INFERENCE)


def test_the_budget_counts_the_normalisers_copy():
    def plan(normalize):
        return plan_volume_segmentation(
            (64, 64, 64),
            np.eye(4),
            orientation="RAS",
            target_spacing=(1.0, 1.0, 1.0),
            patch_size=(32, 32, 32),
            overlap=0.25,
            sw_batch_size=2,
            classes=3,
            channels=4,
            normalize=normalize,
        )

    first = plan("project").stages[0]
    assert first.what == "the project's normaliser on the input grid"
    assert first.nbytes >= 2 * 4 * 64**3 * 4  # its result and its work, four channels
    assert plan("project").peak().nbytes > plan("window").peak().nbytes


def test_the_config_must_select_a_projects_normaliser_and_only_then(demo):
    with_own = dataclasses.replace(demo.project, normalizer=RecordingNormalizer())
    window = PreprocessingSettings()
    with pytest.raises(ConfigError, match=r"preprocessing.normalize: 'window', but sphere-seg"):
        with_own.check_preprocessing(window)
    with pytest.raises(ConfigError, match="supplies no normalizer"):
        demo.project.check_preprocessing(PROJECT_PREP)
    with pytest.raises(ConfigError, match="supplies no normalizer"):
        demo.project.normalizer_for(PROJECT_PREP)
    assert with_own.normalizer_for(PROJECT_PREP) is with_own.normalizer
    # A model trained with the kind's window runs with the kind's, whatever the project has.
    assert with_own.normalizer_for(window) is None


# ------------------------------------------------------------------------------ metrics


def test_a_projects_metric_is_scored_on_the_same_masks_per_structure():
    truth = np.zeros((10, 10, 10), dtype=np.uint8)
    truth[2:6, 2:6, 2:6] = 1  # 64 voxels
    prediction = np.zeros_like(truth)
    prediction[2:6, 2:6, 2:7] = 1  # 80 voxels
    rows = score_structures(
        "case", prediction, truth, {0: "background", 1: "organ"}, (2.0, 2.0, 2.0), [VOLUME_ERROR]
    )
    assert [row.label for row in rows] == ["organ"]
    assert rows[0].dice == pytest.approx(2 * 64 / (64 + 80))
    assert rows[0].extra == {"volume_error_ml": pytest.approx(16 * 8 / 1000)}
    assert rows[0].as_row()["volume_error_ml"] == pytest.approx(0.128)


def test_region_structures_are_scored_per_region():
    regions = Regions(("whole", "core"), ((1, 2), (2,)), (1, 2))
    truth = np.zeros((8, 8, 8), dtype=np.uint8)
    truth[1:5, 1:5, 1:5] = 1
    truth[2:4, 2:4, 2:4] = 2
    rows = score_structures("c", truth, truth, regions, (1.0, 1.0, 1.0), [VOLUME_ERROR])
    assert [(r.label, r.dice, r.extra["volume_error_ml"]) for r in rows] == [
        ("whole", 1.0, 0.0),
        ("core", 1.0, 0.0),
    ]


def test_a_metric_that_returns_no_number_is_named():
    bad = StructureMetric("bad_metric", lambda *_: "high", higher_is_better=True)
    truth = np.ones((4, 4, 4), dtype=np.uint8)
    with pytest.raises(TypeError, match="metric 'bad_metric' returned str, expected a number"):
        score_structures("c", truth, truth, {1: "organ"}, (1.0, 1.0, 1.0), [bad])


@pytest.mark.parametrize("name", ["Volume", "volume-error", "dice", "hd95", ""])
def test_metric_names_must_be_new_lowercase_words(name):
    with pytest.raises(ValueError, match="metric name"):
        StructureMetric(name, volume_error_ml, higher_is_better=False)


def test_a_project_with_two_metrics_of_one_name_is_refused(demo):
    with pytest.raises(ValueError, match="'volume_error_ml' is given twice"):
        dataclasses.replace(demo.project, metrics=[VOLUME_ERROR, VOLUME_ERROR])


def test_project_metrics_are_summarised_and_read_the_declared_way_by_the_gate(demo):
    rows = [
        CaseRow("a", "organ", 0.9, 2.0, {"volume_error_ml": 1.0}),
        CaseRow("b", "organ", 0.7, 4.0, {"volume_error_ml": 3.0}),
    ]
    settings = demo.load("evaluate.bootstrap_resamples=100")
    summary = _summaries(rows, ["organ"], settings, ["volume_error_ml"])
    assert summary["volume_error_ml_organ"].mean == pytest.approx(2.0)
    report = EvaluationReport(
        "m",
        "1",
        "challenger",
        tuple(rows),
        summary,
        demo.root,
        "run",
        "",
        ("hd95", "volume_error_ml"),
    )
    metrics = gate_scores(report).metrics
    assert metrics["volume_error_ml_organ"].higher_is_better is False
    assert metrics["hd95_organ"].higher_is_better is False
    assert metrics["dice_organ"].higher_is_better is True


def test_the_kind_project_type_still_has_no_extensions_by_default(demo):
    project: SegmentationProject[Any] = demo.project
    assert (project.network, project.normalizer, project.overlays) == (None, None, None)
    assert tuple(project.metrics) == ()


def test_estimates_are_unchanged_for_projects_without_metrics(demo):
    rows = [CaseRow("a", "organ", 0.9, 2.0), CaseRow("b", "organ", 0.7, 4.0)]
    summary = _summaries(rows, ["organ"], demo.load("evaluate.bootstrap_resamples=100"))
    assert set(summary) == {"dice_organ", "hd95_organ", "dice_foreground"}
    assert isinstance(summary["dice_organ"], Estimate)


# ------------------------------------------------------------------------------ evaluation


@pytest.mark.integration
def test_evaluate_reports_the_projects_metric_and_draws_its_figure(trained_demo):
    from matplotlib.figure import Figure  # noqa: PLC0415 - matplotlib only here

    from medai.segmentation.evaluation import evaluate  # noqa: PLC0415 - MLflow

    drawn: list[tuple[str, ...]] = []

    def figure(cases, regions, window) -> Figure:
        drawn.append(tuple(case.title for case in cases))
        assert regions is None
        assert window == (-200.0, 300.0)
        return Figure()

    project = dataclasses.replace(
        trained_demo.demo.project, metrics=[VOLUME_ERROR], overlays=figure
    )
    report = evaluate(project, trained_demo.settings, record=False)
    assert len(drawn) == 1
    assert len(drawn[0]) == 1  # evaluate.overlay_cases=1
    assert "volume_error_ml_sphere" in report.summary
    assert all("volume_error_ml" in row.extra for row in report.rows)
    table = (report.output_dir / "per_case_metrics.csv").read_text(encoding="utf-8")
    assert table.splitlines()[0] == "case_id,label,dice,hd95_mm,volume_error_ml"
    assert gate_scores(report).metrics["volume_error_ml_sphere"].higher_is_better is False


# ------------------------------------------------------------------------------ serving


def project_bundle(demo, onnx_path):
    from medai.serving import ModelCard, write_bundle  # noqa: PLC0415

    card = ModelCard(
        name="sphere-seg",
        version="6",
        extra={
            "preprocessing": PROJECT_PREP.model_dump(mode="json"),
            "labels": {"0": "background", "1": "sphere"},
        },
    )
    return write_bundle(demo.root / "models" / "sphere-seg" / "6", card, onnx_path).folder


def test_the_servers_loader_gives_a_project_model_its_normaliser(demo, onnx_path, make_sphere):
    from medai.segmentation.serving.model import model_loaders  # noqa: PLC0415

    normaliser = RecordingNormalizer()
    project = dataclasses.replace(demo.project, normalizer=normaliser)
    settings = demo.load()
    served = model_loaders(project)["onnx"](project_bundle(demo, onnx_path), settings)
    volume, _ = make_sphere((24, 24, 24), np.diag([2.0, 2.0, 2.0, 1.0]))
    mask = served.segment(volume)
    assert normaliser.shapes == [(1, 24, 24, 24)]
    assert mask.shape == (24, 24, 24)


@pytest.mark.parametrize("backend", ["onnx", "torch"])
def test_a_project_model_on_a_server_without_the_normaliser_fails_to_load_naming_it(
    demo, onnx_path, backend
):
    from medai.segmentation.serving.model import model_loaders  # noqa: PLC0415
    from medai.serving import BundleError  # noqa: PLC0415

    with pytest.raises(BundleError, match="supplies no normalizer"):
        model_loaders(demo.project)[backend](project_bundle(demo, onnx_path), demo.load())
