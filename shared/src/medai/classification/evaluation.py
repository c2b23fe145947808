"""Evaluate a registered classifier: AUROC with bootstrap CIs, operating point, calibration, CAMs.

The model is loaded by alias and run through ``TorchClassifier``, which prepares images
with the same function as the ONNX server; it is scored on the dataset's test split if
it has one (MedMNIST), else on the validation split. The report goes to
``<evaluate.output_dir>/<model>-v<version>/`` and to a new MLflow run, and the model
version is tagged ``eval.*`` so the registry can compare versions by macro AUROC. A
project's own image step prepares the images as it did in training, its own metrics
(``ClassificationProject.metrics``) are reported beside the kind's with the same CIs, and
its own figures (``ClassificationProject.figures``) are drawn beside the kind's.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mlflow
import numpy as np
from numpy.typing import NDArray

from medai.classification.data import RadiographItem, label_matrix, read_items
from medai.classification.extensions import ImageStep, check_figure_names
from medai.classification.metrics import (
    ClassificationReport,
    evaluate_classifier,
    metric_names,
)
from medai.classification.plots import (
    CamPanel,
    plot_cam_grid,
    plot_reliability_diagram,
    plot_roc_curves,
)
from medai.classification.project import ClassificationProject, SettingsT
from medai.classification.registry import LoadedModel, load_registered_model
from medai.config import ConfigError
from medai.deployment.gate import GateMetric, GateScores
from medai.io import RadiographLimits
from medai.tracking.registry import evaluation_tags, tag_version
from medai.tracking.runs import evaluation_run

if TYPE_CHECKING:
    from matplotlib.figure import Figure

PRIMARY_METRIC = "auroc_macro"
"""The figure models are compared by; the registry tag ``eval.primary_metric`` names it."""
_CHUNK = 64
_TABLE_COLUMNS = (
    "label",
    "positives",
    "negatives",
    "auroc",
    "auroc_ci_low",
    "auroc_ci_high",
    "threshold",
    "sensitivity",
    "sensitivity_ci_low",
    "sensitivity_ci_high",
    "specificity",
    "specificity_ci_low",
    "specificity_ci_high",
    "ece",
)


@dataclass(frozen=True)
class EvaluationReport:
    """The report of one evaluation and where it went."""

    model_name: str
    model_version: str
    alias: str
    split: str
    report: ClassificationReport
    output_dir: Path
    run_id: str
    data_digest: str = ""


def _probabilities(
    model: LoadedModel,
    items: Sequence[RadiographItem],
    limits: RadiographLimits,
    threads: int,
    image_step: ImageStep | None,
) -> NDArray[np.float64]:
    """``(N, K)`` probabilities, reading and predicting ``_CHUNK`` images at a time."""
    classifier = model.classifier(image_step)
    rows: list[list[float]] = []
    for start in range(0, len(items), _CHUNK):
        images = read_items(items[start : start + _CHUNK], limits, threads=threads)
        outputs = classifier.predict_batch([image.pixels for image in images])
        rows.extend([output.probabilities[label] for label in model.labels] for output in outputs)
    return np.asarray(rows, dtype=np.float64).reshape(len(items), len(model.labels))


def cam_choices(
    targets: NDArray[np.float64], probabilities: NDArray[np.float64], count: int
) -> list[tuple[int, int]]:
    """``(image, label)`` pairs worth showing: the most confident true positives, label by label.

    Labels take turns so every finding is shown; a label without positives is skipped, and
    the grid is filled with the most confident remaining predictions if positives run out.
    """
    n_images, n_labels = targets.shape
    queues = []
    for k in range(n_labels):
        positives = np.flatnonzero(targets[:, k] == 1)
        queues.append(list(positives[np.argsort(-probabilities[positives, k], kind="stable")]))
    chosen: list[tuple[int, int]] = []
    used: set[int] = set()
    while len(chosen) < min(count, n_images) and any(queues):
        for k, queue in enumerate(queues):
            while queue and queue[0] in used:
                queue.pop(0)
            if queue and len(chosen) < count:
                image = int(queue.pop(0))
                chosen.append((image, k))
                used.add(image)
    for image in np.argsort(-probabilities.max(axis=1), kind="stable"):
        if len(chosen) >= min(count, n_images):
            break
        if int(image) not in used:
            chosen.append((int(image), int(np.argmax(probabilities[image]))))
            used.add(int(image))
    return chosen


def _cam_panels(
    model: LoadedModel,
    items: Sequence[RadiographItem],
    choices: Sequence[tuple[int, int]],
    limits: RadiographLimits,
    image_step: ImageStep | None,
) -> list[CamPanel]:
    images = read_items([items[i] for i, _ in choices], limits, threads=1)
    outputs = model.classifier(image_step).predict_batch([image.pixels for image in images])
    return [
        CamPanel(
            image=image.pixels,
            cam=output.cams[k],
            label=model.labels[k],
            probability=output.probabilities[model.labels[k]],
        )
        for image, output, (_, k) in zip(images, outputs, choices, strict=True)
    ]


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def table_columns(report: ClassificationReport) -> tuple[str, ...]:
    """The per-label table's columns: the kind's, then each project metric with its CI."""
    extra = (
        column
        for metric in report.extra
        for column in (metric.name, f"{metric.name}_ci_low", f"{metric.name}_ci_high")
    )
    return (*_TABLE_COLUMNS, *extra)


def per_label_rows(report: ClassificationReport) -> list[dict[str, Any]]:
    """One row per label: counts, AUROC, operating point, calibration, the project's metrics.

    CIs are columns of their own (``auroc_ci_low``, ``<metric>_ci_high``).
    """
    rows = []
    for label in report.labels:
        auroc, sens, spec = (
            report.auroc[label],
            report.sensitivity[label],
            report.specificity[label],
        )
        values = (
            label,
            report.positives[label],
            report.negatives[label],
            auroc.mean,
            auroc.low,
            auroc.high,
            report.thresholds[label],
            sens.mean,
            sens.low,
            sens.high,
            spec.mean,
            spec.low,
            spec.high,
            report.calibration[label].ece,
        )
        row = dict(zip(_TABLE_COLUMNS, values, strict=True))
        for metric in report.extra:
            estimate = metric.per_label[label]
            row[metric.name] = estimate.mean
            row[f"{metric.name}_ci_low"] = estimate.low
            row[f"{metric.name}_ci_high"] = estimate.high
        rows.append(row)
    return rows


def write_report(
    report_dir: Path, evaluation: dict[str, Any], report: ClassificationReport
) -> None:
    """``per_label_metrics.csv`` and ``summary.json`` (non-finite numbers as empty / null)."""
    report_dir.mkdir(parents=True, exist_ok=True)
    rows = per_label_rows(report)
    with (report_dir / "per_label_metrics.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=table_columns(report))
        writer.writeheader()
        writer.writerows(
            {
                k: ("" if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in row.items()
            }
            for row in rows
        )
    macro = report.macro_auroc
    summary = {
        **evaluation,
        "n_images": report.n_images,
        "primary_metric": PRIMARY_METRIC,
        "auroc_macro": {
            "mean": _finite(macro.mean),
            "ci_low": _finite(macro.low),
            "ci_high": _finite(macro.high),
            "confidence": macro.confidence,
        },
        "undefined_labels": list(report.undefined),
        "project_metrics": {
            metric.name: {"higher_is_better": metric.higher_is_better} for metric in report.extra
        },
        "per_label": {
            row["label"]: {
                k: (_finite(v) if isinstance(v, float) else v)
                for k, v in row.items()
                if k != "label"
            }
            for row in rows
        },
    }
    (report_dir / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")


def evaluate(
    project: ClassificationProject[SettingsT],
    settings: SettingsT,
    alias: str | None = None,
    *,
    record: bool = True,
) -> EvaluationReport:
    """Evaluate the model behind ``alias`` (see medai.tracking.model_choice).

    Writes the report locally and to a new MLflow run and, when ``record``, tags the
    model version ``eval.*`` (the deployment gate evaluates with ``record=False``: a
    refused deployment leaves the registry as it was).

    Raises:
        medai.tracking.errors.ModelNotFoundError: no model behind the aliases.
        ConfigError: the dataset's labels are not the ones the model was trained on, or
            the model needs the project's image step and the project has none.
        medai.data.DatasetError, medai.io.MedicalImageError: unusable data (named).
        ValueError: a project figure's name is no file stem or is the kind's.
    """
    model = load_registered_model(project.binding, settings, alias)
    image_step = project.image_step_for(model.preprocessing)
    data = project.load_data(settings)
    if tuple(data.labels) != model.labels:
        raise ConfigError(
            "data.labels",
            None,
            f"{list(data.labels)} differ from the labels {model.name} version {model.version} "
            f"was trained on: {list(model.labels)}",
        )
    items = data.evaluation_items()
    limits = settings.radiograph.limits()
    evaluate_settings = settings.evaluate
    probabilities = _probabilities(model, items, limits, settings.train.read_threads, image_step)
    targets = label_matrix(items)
    report = evaluate_classifier(
        targets,
        probabilities,
        model.labels,
        thresholds=evaluate_settings.thresholds_for(model.labels),
        n_bins=evaluate_settings.n_bins,
        confidence=evaluate_settings.confidence,
        n_resamples=evaluate_settings.bootstrap_resamples,
        seed=settings.seed,
        metrics=project.metrics,
    )

    report_dir = (
        project.binding.resolve_path(evaluate_settings.output_dir)
        / f"{model.name}-v{model.version}"
    )
    header = {
        "model_name": model.name,
        "model_version": model.version,
        "alias": model.alias,
        "dataset": data.name,
        "split": data.evaluation_split,
    }
    write_report(report_dir, header, report)
    figures: dict[str, Figure] = {"roc_curves": plot_roc_curves(report.roc)}
    figures["reliability"] = plot_reliability_diagram(report.calibration)
    choices = cam_choices(targets, probabilities, evaluate_settings.cam_cases)
    if choices:
        panels = _cam_panels(model, items, choices, limits, image_step)
        figures["gradcam"] = plot_cam_grid(panels)
    if project.figures is not None:
        own = dict(project.figures(report, targets, probabilities))
        check_figure_names(list(own))
        figures.update(own)
    for name, figure in figures.items():
        figure.savefig(report_dir / f"{name}.png", dpi=100)

    manifest = data.manifest(items)
    with evaluation_run(
        settings,
        project.binding.repo_root,
        model_name=model.name,
        model_version=model.version,
        model_alias=model.alias,
        manifest=manifest,
    ) as run:
        metrics = {k: v for k, v in report.as_metrics().items() if math.isfinite(v)}
        mlflow.log_metrics(metrics)
        mlflow.log_artifacts(str(report_dir), artifact_path="evaluation")
    if record:
        tags = evaluation_tags(PRIMARY_METRIC, report.macro_auroc, run.info.run_id, manifest.digest)
        tag_version(model.name, model.version, tags)
    return EvaluationReport(
        model.name,
        model.version,
        model.alias,
        data.evaluation_split,
        report,
        report_dir,
        run.info.run_id,
        manifest.digest,
    )


def gate_scores(evaluation: EvaluationReport) -> GateScores:
    """The evaluation as the deployment gate compares it.

    Ranked by macro AUROC; each label's AUROC may not regress beyond tolerance. Only
    threshold-free figures are gated: sensitivity and specificity at the operating point
    are reported with the decision, not gated, because they move with the threshold, a
    setting retuned after training, and because a champion that never calls a finding
    has specificity 1.0 and would refuse every real model. Calibration error is reported
    too, not gated: it is fixed by recalibrating, not by keeping an older model. A
    project's own metrics are gated per label (``<name>_<label>``), each read the way it
    declares (``LabelMetric.higher_is_better``): the project chose them as figures a new
    model must not lose on.
    """
    report = evaluation.report
    figures = report.as_metrics()
    metrics = {
        key.removesuffix("_mean"): GateMetric(value)
        for key, value in figures.items()
        if key.startswith("auroc_") and key.endswith("_mean")
    }
    for extra in report.extra:
        for key in metric_names(report.labels):
            name = f"{extra.name}_{key}"
            metrics[name] = GateMetric(figures[f"{name}_mean"], extra.higher_is_better)
    return GateScores(evaluation.model_version, PRIMARY_METRIC, metrics, evaluation.data_digest)
