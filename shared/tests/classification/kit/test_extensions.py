"""The kind's extension points: a project's network, image step, metrics and figures are used."""

from __future__ import annotations

import csv
import dataclasses
import json
import threading
from pathlib import Path

import numpy as np
import pytest
from mlflow.tracking import MlflowClient
from numpy.typing import NDArray

from medai.classification import extensions
from medai.classification.evaluation import (
    EvaluationReport,
    evaluate,
    gate_scores,
    per_label_rows,
    table_columns,
)
from medai.classification.extensions import (
    EXTENSION_POINTS,
    LabelMetric,
    check_figure_names,
)
from medai.classification.metrics import evaluate_classifier
from medai.classification.networks import CamClassifier, check_network_fits
from medai.classification.preprocessing import prepare_image
from medai.classification.project import ClassificationProject
from medai.classification.registry import PREPROCESSING_TAG, load_registered_model
from medai.classification.serving.model import load_onnx_model, model_loaders
from medai.classification.torch_classifier import TorchClassifier
from medai.classification.training_inputs import read_training_inputs
from medai.classification.training_run import train
from medai.config import ConfigError
from medai.errors import NetworkContractError
from medai.project import ProjectBinding
from medai.serving import BundleError, ModelCard, write_bundle
from medai.testing import DemoProject, write_demo_repo

STEP = ("preprocessing.image_step=project",)


class RecordingStep:
    """A real image step (inverts the grey levels); remembers every image shape it saw."""

    def __init__(self) -> None:
        self.shapes: list[tuple[int, ...]] = []
        self._lock = threading.Lock()  # training prepares images on several threads

    def __call__(self, image: NDArray[np.float32]) -> NDArray[np.float32]:
        with self._lock:
            self.shapes.append(tuple(image.shape))
        return (1.0 - image).astype(np.float32)


def shrinking(image: NDArray[np.float32]) -> NDArray[np.float32]:
    return image[1:]


def average_precision(targets: NDArray[np.float64], scores: NDArray[np.float64]) -> float:
    """Mean precision at each positive's rank (NaN without positives)."""
    if not (targets == 1).any():
        return float("nan")
    hits = targets[np.argsort(-scores, kind="stable")] == 1
    precision = np.cumsum(hits) / np.arange(1, hits.size + 1)
    return float(precision[hits].mean())


def brier(targets: NDArray[np.float64], scores: NDArray[np.float64]) -> float:
    return float(np.mean((scores - targets) ** 2)) if targets.size else float("nan")


AVERAGE_PRECISION = LabelMetric("average_precision", average_precision, higher_is_better=True)
BRIER = LabelMetric("brier", brier, higher_is_better=False)


def with_network(project, factory) -> ClassificationProject:
    return dataclasses.replace(project, network=factory)


def never_read(*_args: object) -> None:
    raise AssertionError("the data was read before the configuration was checked")


# ------------------------------------------------------------------------------ the table


def test_every_extension_point_is_in_the_module_table():
    doc = extensions.__doc__ or ""
    for name, module, default in EXTENSION_POINTS:
        row = next(line for line in doc.splitlines() if line.startswith((f"``{name}``", name)))
        assert f"``{module}``" in row
        assert default.split(" ")[0].strip(":") in row
    assert [name for name, *_ in EXTENSION_POINTS] == [
        "network",
        "image_step",
        "metrics",
        "figures",
        "routers/middleware",
    ]


def test_the_kind_project_type_has_no_extensions_by_default(demo):
    project = demo.project
    assert (project.network, project.image_step, project.figures) == (None, None, None)
    assert tuple(project.metrics) == ()


# ------------------------------------------------------------------------------ network


def test_a_projects_network_that_does_not_fit_is_refused_before_training(demo, tmp_path):
    built: list[tuple[int, int]] = []

    def three_labels(_settings, in_channels: int, num_labels: int) -> CamClassifier:
        built.append((in_channels, num_labels))
        return CamClassifier(3, in_channels=in_channels, init_features=4, block_config=(2, 2))

    store = tmp_path / "never.db"
    settings = demo.load(f"tracking.uri=sqlite:///{store}")
    with pytest.raises(NetworkContractError, match=r"has 3 output.s. but the dataset has 2 labels"):
        train(with_network(demo.project, three_labels), settings)
    assert built == [(1, 2)]  # called with the images' one channel and the two labels
    assert not store.exists()  # no MLflow run was opened, nothing registered


def test_a_network_taking_other_channels_or_no_cam_classifier_is_named():
    three = CamClassifier(2, in_channels=3, init_features=4, block_config=(2, 2))
    with pytest.raises(NetworkContractError, match=r"takes 3 input channel.s. but .* have 1"):
        check_network_fits(three, in_channels=1, num_labels=2, image_size=32)
    import torch  # noqa: PLC0415 - torch only here

    with pytest.raises(NetworkContractError, match="is a Linear; expected a CamClassifier"):
        check_network_fits(torch.nn.Linear(2, 2), in_channels=1, num_labels=2, image_size=32)


def test_a_network_that_declares_one_head_and_computes_another_is_caught():
    network = CamClassifier(2, init_features=4, block_config=(2, 2))
    network.num_labels = 3  # the declaration lies; the head still gives 2 logits
    with pytest.raises(NetworkContractError, match="declares 3 outputs but computes 2"):
        check_network_fits(network, in_channels=1, num_labels=3, image_size=32)
    check_network_fits(CamClassifier(2, block_config=(2, 2)), 1, 2, 32)  # the kind's fits


# ------------------------------------------------------------------------------ image step


def test_training_images_are_prepared_with_the_projects_step(demo):
    step = RecordingStep()
    project = dataclasses.replace(demo.project, image_step=step)
    settings = demo.load(*STEP)

    inputs = read_training_inputs(project, settings)

    count = len(inputs.train_items) + len(inputs.val_items)
    assert step.shapes == [(32, 32)] * count  # every image, once, at the network's input
    item = inputs.data.training_items()[0]
    pixels = item.read(settings.radiograph.limits()).pixels
    expected = 1.0 - prepare_image(pixels, 32)
    np.testing.assert_allclose(inputs.train_items[0][0], expected, atol=1e-6)


def test_the_config_must_select_a_projects_step_and_only_then(demo):
    with_own = dataclasses.replace(
        demo.project, image_step=RecordingStep(), prepare_dataset=never_read
    )
    with pytest.raises(
        ConfigError, match=r"preprocessing.image_step: 'none', but shape-cls brings"
    ):
        read_training_inputs(with_own, demo.load())
    without = dataclasses.replace(demo.project, prepare_dataset=never_read)
    with pytest.raises(
        ConfigError, match=r"preprocessing.image_step: 'project', but shape-cls sup"
    ):
        read_training_inputs(without, demo.load(*STEP))
    project_prep = demo.load(*STEP).preprocessing
    assert with_own.image_step_for(project_prep) is with_own.image_step
    # A model trained with the kind's preprocessing runs with it, whatever the project has.
    assert with_own.image_step_for(demo.load().preprocessing) is None


def test_a_step_that_changes_the_shape_or_gives_nan_is_named():
    image = np.full((40, 40), 0.5, np.float32)
    with pytest.raises(ValueError, match=r"image step returned shape \(31, 32\) for an image"):
        prepare_image(image, 32, image_step=shrinking)
    with pytest.raises(ValueError, match="image step returned non-finite values"):
        prepare_image(image, 32, image_step=lambda x: x * np.float32(np.nan))


def step_card(size: int = 32) -> ModelCard:
    extra = {
        "preprocessing": {"image_size": size, "standardize": False, "image_step": "project"},
        "labels": {"0": "square", "1": "bar"},
    }
    return ModelCard(name="shape-cls", version="7", alias="challenger", extra=extra)


def test_both_backends_run_the_projects_step_on_what_the_network_sees(demo, exported, tmp_path):
    network, onnx_path = exported
    folder = write_bundle(tmp_path / "bundle", step_card(), onnx_path).folder
    onnx_step, torch_step = RecordingStep(), RecordingStep()
    served = model_loaders(dataclasses.replace(demo.project, image_step=onnx_step))["onnx"](
        folder, demo.load()
    )
    pixels = np.linspace(0.0, 1.0, 48 * 48, dtype=np.float32).reshape(48, 48)

    with_step = served.predict(pixels)
    by_torch = TorchClassifier(network, 32, ("square", "bar"), image_step=torch_step).predict(
        pixels
    )
    without = TorchClassifier(network, 32, ("square", "bar")).predict(pixels)

    assert onnx_step.shapes == torch_step.shapes == [(32, 32)]
    for label in ("square", "bar"):
        assert with_step.probabilities[label] == pytest.approx(
            by_torch.probabilities[label], abs=1e-5
        )
    assert with_step.probabilities != pytest.approx(without.probabilities, abs=1e-6)


def test_a_model_that_needs_the_step_does_not_load_without_it(demo, exported, tmp_path):
    _, onnx_path = exported
    folder = write_bundle(tmp_path / "bundle", step_card(), onnx_path).folder
    with pytest.raises(BundleError, match=r"version 7: 'project', but shape-cls supplies no image"):
        model_loaders(demo.project)["torch"](folder, demo.load())
    with pytest.raises(BundleError, match="trained with the project's own image step"):
        load_onnx_model(folder, demo.load())


# ------------------------------------------------------------------------------ metrics


def scored(metrics=(AVERAGE_PRECISION, BRIER)):
    rng = np.random.default_rng(0)
    targets = rng.integers(0, 2, size=(40, 2)).astype(float)
    targets[3, 1] = np.nan  # unknown: left out of that label, as for AUROC
    probabilities = np.clip(targets * 0.3 + rng.random((40, 2)) * 0.7, 0, 1)
    probabilities[3, 1] = 0.5
    report = evaluate_classifier(
        targets, probabilities, ("square", "bar"), n_resamples=200, seed=0, metrics=metrics
    )
    return targets, probabilities, report


def test_a_projects_metric_is_reported_per_label_with_the_kinds_bootstrap():
    targets, probabilities, report = scored()

    ap, brier_score = report.extra
    assert (ap.name, ap.higher_is_better, brier_score.higher_is_better) == (
        "average_precision",
        True,
        False,
    )
    known = ~np.isnan(targets[:, 1])
    expected = brier(targets[known, 1], probabilities[known, 1])
    assert brier_score.per_label["bar"].mean == pytest.approx(expected)
    assert brier_score.per_label["bar"].n == 39
    for estimate in (*ap.per_label.values(), *brier_score.per_label.values()):
        assert estimate.low < estimate.mean < estimate.high  # a real interval
        assert estimate.confidence == report.auroc["square"].confidence
    metrics = report.as_metrics()
    assert metrics["average_precision_square_mean"] == ap.per_label["square"].mean
    assert {"brier_bar_ci_low", "brier_bar_ci_high"} <= set(metrics)


def test_the_table_has_a_column_and_ci_per_project_metric():
    _, _, report = scored()
    columns = table_columns(report)
    assert columns[-6:] == (
        "average_precision",
        "average_precision_ci_low",
        "average_precision_ci_high",
        "brier",
        "brier_ci_low",
        "brier_ci_high",
    )
    rows = per_label_rows(report)
    assert rows[1]["brier"] == report.extra[1].per_label["bar"].mean
    assert list(rows[0]) == list(columns)


def test_the_gate_reads_each_project_metric_the_way_it_declares():
    _, _, report = scored()
    evaluation = EvaluationReport("m", "1", "challenger", "validation", report, Path(), "r")

    metrics = gate_scores(evaluation).metrics

    assert metrics["brier_square"].higher_is_better is False
    assert metrics["average_precision_bar"].higher_is_better is True
    assert metrics["auroc_square"].higher_is_better is True
    assert metrics["brier_bar"].value == report.extra[1].per_label["bar"].mean


def test_a_metric_that_returns_no_number_is_named():
    bad = LabelMetric("odds", lambda *_: "high", higher_is_better=True)
    with pytest.raises(TypeError, match="metric 'odds' returned str, expected a number"):
        scored((bad,))


@pytest.mark.parametrize("name", ["Brier", "brier-score", "auroc", "ece", "_x", ""])
def test_metric_names_must_be_new_lowercase_words(name):
    with pytest.raises(ValueError, match="metric name"):
        LabelMetric(name, brier, higher_is_better=False)


def test_a_project_with_two_metrics_of_one_name_is_refused(demo):
    with pytest.raises(ValueError, match="'brier' is given twice"):
        dataclasses.replace(demo.project, metrics=[BRIER, BRIER])


@pytest.mark.parametrize("name", ["gradcam", "roc_curves", "Scores", "a/b"])
def test_a_figure_may_not_take_the_kinds_name_or_leave_its_folder(name):
    with pytest.raises(ValueError, match="figure name"):
        check_figure_names([name])


# ------------------------------------------------------------------------------ end to end


@dataclasses.dataclass
class Extended:
    """A demo project with every extension, trained and evaluated once (module scope)."""

    demo: DemoProject
    settings: object
    result: object
    evaluation: EvaluationReport
    step: RecordingStep
    built: list
    prepared_in_training: int
    drawn: list


def wider(_settings, in_channels: int, num_labels: int) -> CamClassifier:
    return CamClassifier(
        num_labels, in_channels=in_channels, init_features=12, growth_rate=6, block_config=(2, 2)
    )


@pytest.fixture(scope="module")
def extended(trained_demo, tmp_path_factory) -> Extended:
    """The session's demo project, in its own folder and store, with its own code plugged in."""
    from matplotlib.figure import Figure  # noqa: PLC0415 - matplotlib only here

    root = tmp_path_factory.mktemp("extended")
    base = trained_demo.demo.project
    configs = trained_demo.demo.root / "projects" / "shape-cls" / "configs"
    package = write_demo_repo(
        root / "repo", "shape-cls", "shape_cls", (configs / "base.yaml").read_text()
    )
    step, built, drawn = RecordingStep(), [], []

    def network(settings, in_channels: int, num_labels: int) -> CamClassifier:
        built.append((in_channels, num_labels))
        return wider(settings, in_channels, num_labels)

    def figures(report, targets, probabilities) -> dict[str, Figure]:
        drawn.append((report.labels, targets.shape, probabilities.shape))
        figure = Figure()
        figure.subplots().hist(probabilities.ravel(), bins=10)
        return {"score_histogram": figure}

    project = ClassificationProject(
        ProjectBinding(package, base.binding.settings_type),
        base.prepare_dataset,
        base.modality,
        base.findings,
        network=network,
        image_step=step,
        metrics=(AVERAGE_PRECISION, BRIER),
        figures=figures,
    )
    demo = DemoProject(root / "repo", project)
    settings = demo.load(
        f"tracking.uri=sqlite:///{root / 'mlflow.db'}",
        f"tracking.artifact_location={(root / 'mlruns').as_uri()}",
        *STEP,
    )
    result = train(project, settings)
    prepared = len(step.shapes)
    evaluation = evaluate(project, settings)
    return Extended(demo, settings, result, evaluation, step, built, prepared, drawn)


def client_of(extended: Extended) -> MlflowClient:
    uri = extended.settings.tracking.uri
    return MlflowClient(uri, registry_uri=uri)


@pytest.mark.integration
def test_training_registers_the_projects_network(extended):
    from medai.classification.model_factory import build_network  # noqa: PLC0415 - torch

    model = load_registered_model(extended.demo.binding, extended.settings, "challenger")

    assert extended.built == [(1, 2)]
    assert model.network.classifier.in_features == wider(None, 1, 2).classifier.in_features
    kinds = build_network(extended.settings.model, 2)
    assert model.network.classifier.in_features != kinds.classifier.in_features


@pytest.mark.integration
def test_the_step_runs_in_training_evaluation_and_both_served_backends(extended, tmp_path):
    from medai.serving.launch import materialize_model  # noqa: PLC0415 - MLflow

    data = extended.demo.project.load_data(extended.settings)
    trained_on = len(data.training_items()) + len(data.validation_items())
    # Every image is checked once before training, then read again by the epochs.
    assert extended.prepared_in_training >= 2 * trained_on
    evaluated = len(extended.step.shapes) - extended.prepared_in_training
    assert evaluated >= len(data.evaluation_items())  # and the Grad-CAM panels
    version = client_of(extended).get_model_version("shape-cls", extended.result.model_version)
    assert json.loads(version.tags[PREPROCESSING_TAG])["image_step"] == "project"

    model_dir = materialize_model(
        extended.settings, extended.demo.binding.repo_root, tmp_path, alias="challenger"
    )
    loaders = model_loaders(extended.demo.project)
    pixels = np.full((40, 40), 0.25, np.float32)
    before = len(extended.step.shapes)
    onnx = loaders["onnx"](model_dir, extended.settings).predict(pixels)
    torch_served = loaders["torch"](model_dir, extended.settings).predict(pixels)

    assert extended.step.shapes[before:] == [(32, 32), (32, 32)]
    assert onnx.probabilities == pytest.approx(torch_served.probabilities, abs=1e-4)
    without = dataclasses.replace(extended.demo.project, image_step=None)
    with pytest.raises(BundleError, match="supplies no image step"):
        model_loaders(without)["onnx"](model_dir, extended.settings)


@pytest.mark.integration
def test_evaluation_reports_the_projects_metrics_everywhere(extended):
    done = extended.evaluation
    names = [metric.name for metric in done.report.extra]

    assert names == ["average_precision", "brier"]
    with (done.output_dir / "per_label_metrics.csv").open(encoding="utf-8") as handle:
        header = next(csv.reader(handle))
    assert header[-6:] == list(table_columns(done.report))[-6:]
    assert "brier_ci_high" in header
    summary = json.loads((done.output_dir / "summary.json").read_text())
    assert summary["project_metrics"]["brier"] == {"higher_is_better": False}
    assert "average_precision_ci_low" in summary["per_label"]["square"]
    logged = client_of(extended).get_run(done.run_id).data.metrics
    estimate = done.report.extra[0].per_label["square"]
    assert logged["average_precision_square_mean"] == pytest.approx(estimate.mean)
    assert logged["average_precision_square_ci_low"] == pytest.approx(estimate.low)
    gated = gate_scores(done).metrics
    assert gated["brier_bar"].higher_is_better is False
    assert gated["average_precision_bar"].higher_is_better is True


@pytest.mark.integration
def test_the_projects_figure_is_logged_beside_the_kinds(extended):
    done = extended.evaluation
    evaluated = len(extended.demo.project.load_data(extended.settings).evaluation_items())
    assert extended.drawn == [(("square", "bar"), (evaluated, 2), (evaluated, 2))]
    logged = {a.path for a in client_of(extended).list_artifacts(done.run_id, "evaluation")}
    kinds = {"roc_curves.png", "reliability.png", "gradcam.png"}
    assert {f"evaluation/{name}" for name in (*kinds, "score_histogram.png")} <= logged
    assert (done.output_dir / "score_histogram.png").stat().st_size > 0
