"""Evaluate a registered model on the validation cases: Dice and HD95 with bootstrap CIs.

The model is run through the same ``Segmenter`` that prediction uses, and metrics are
computed on each case's original grid and spacing, which is what a clinician measures.
A label-based model is scored per foreground label; a region model (its ``medai.regions``
tag) per region (``dice_whole_tumour``, ``hd95_tumour_core``, ...), the primary metric
being the mean Dice over its structures either way. A project's own metrics
(``SegmentationProject.metrics``) are scored on the same masks and summarised with the
same CIs, and its own figure (``SegmentationProject.overlays``) replaces the kind's.
"""

from __future__ import annotations

import csv
import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import mlflow
import numpy as np

from medai.data import LabelledCase
from medai.deployment.gate import GateMetric, GateScores
from medai.inference.budget import WorkLimitError
from medai.io import ChannelVolume, Volume, read_channels, read_nifti
from medai.metrics import Estimate, bootstrap_ci
from medai.segmentation.extensions import StructureMetric
from medai.segmentation.metrics import score_mask, structure_masks
from medai.segmentation.plots import OverlayCase, default_overlays
from medai.segmentation.project import SegmentationProject, SettingsT
from medai.segmentation.regions import Regions
from medai.segmentation.registry import LoadedModel, load_registered_model
from medai.segmentation.segmenter import Segmenter
from medai.segmentation.settings import SegmentationSettings
from medai.tracking.registry import evaluation_tags, tag_version
from medai.tracking.runs import evaluation_run

LOGGER = logging.getLogger(__name__)

PRIMARY_METRIC = "dice_foreground"
"""The figure models are compared by (mean Dice over the labels or regions of a case);
the registry tag ``eval.primary_metric`` names it."""


@dataclass(frozen=True)
class CaseRow:
    """One line of the per-case table: one structure (label or region) of one case.

    ``extra`` holds the project's own metrics (``SegmentationProject.metrics``) by name.
    """

    case_id: str
    label: str
    dice: float
    hd95_mm: float
    extra: Mapping[str, float] = field(default_factory=dict)

    def as_row(self) -> dict[str, str | float]:
        """The CSV / MLflow table row: the kind's columns, then the project's."""
        return {
            "case_id": self.case_id,
            "label": self.label,
            "dice": self.dice,
            "hd95_mm": self.hd95_mm,
            **self.extra,
        }


@dataclass(frozen=True)
class EvaluationReport:
    """Per-case rows, summaries with CIs, and where the files went."""

    model_name: str
    model_version: str
    alias: str
    rows: tuple[CaseRow, ...]
    summary: dict[str, Estimate]
    output_dir: Path
    run_id: str
    data_digest: str = ""
    lower_is_better: tuple[str, ...] = ("hd95",)
    """Metric names the gate reads lower-is-better (HD95 and such project metrics)."""

    @property
    def mean_dice(self) -> Estimate:
        """Mean foreground Dice over cases and structures, with its CI."""
        return self.summary[PRIMARY_METRIC]


def read_case_image(case: LabelledCase, channels: tuple[str, ...]) -> Volume | ChannelVolume:
    """A case's image as the segmenter takes it: one ``Volume``, or all its channels."""
    if len(channels) == 1:
        return read_nifti(case.image)
    return read_channels(case.images, channels)


def _summaries(
    rows: list[CaseRow],
    labels: list[str],
    settings: SegmentationSettings,
    extra: Sequence[str] = (),
) -> dict[str, Estimate]:
    def ci(values: list[float]) -> Estimate:
        return bootstrap_ci(
            values,
            confidence=settings.evaluate.confidence,
            n_resamples=settings.evaluate.bootstrap_resamples,
            seed=settings.seed,
        )

    summary: dict[str, Estimate] = {}
    for label in labels:
        summary[f"dice_{label}"] = ci([r.dice for r in rows if r.label == label])
        summary[f"hd95_{label}"] = ci([r.hd95_mm for r in rows if r.label == label])
        for name in extra:
            summary[f"{name}_{label}"] = ci([r.extra[name] for r in rows if r.label == label])
    # Per-case mean over structures, so the CI resamples cases (the independent unit).
    case_ids = sorted({r.case_id for r in rows})
    case_means = [sum(r.dice for r in rows if r.case_id == c) / len(labels) for c in case_ids]
    summary[PRIMARY_METRIC] = ci(case_means)
    return summary


def _write_local(
    report_dir: Path, rows: list[CaseRow], summary: dict[str, Estimate], columns: list[str]
) -> tuple[Path, Path]:
    report_dir.mkdir(parents=True, exist_ok=True)
    table = report_dir / "per_case_metrics.csv"
    with table.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(r.as_row() for r in rows)
    summary_path = report_dir / "summary.json"
    summary_path.write_text(
        json.dumps({k: asdict(v) for k, v in summary.items()}, indent=2), encoding="utf-8"
    )
    return table, summary_path


def evaluate(
    project: SegmentationProject[SettingsT],
    settings: SettingsT,
    alias: str | None = None,
    *,
    record: bool = True,
) -> EvaluationReport:
    """Evaluate the model behind ``alias`` (see medai.tracking.model_choice).

    Writes ``<evaluate.output_dir>/<model>-v<version>/`` (per-case CSV, summary JSON,
    overlays), logs the same to a new MLflow run and, when ``record``, tags the model
    version ``eval.*`` (the deployment gate evaluates with ``record=False``: a refused
    deployment leaves the registry as it was).

    Raises:
        WorkLimitError: A case whose segmentation would exceed ``settings.limits``
            (naming its image file), found from its header before it is segmented.
    """
    model: LoadedModel = load_registered_model(project.binding, settings, alias)
    data = project.load_data(settings)
    cases = data.validation_cases()
    labels = model.labels or data.labels
    regions = model.regions
    channels = model.channels or data.dataset.channels
    structures = (
        list(regions.names)
        if regions is not None
        else [name for value, name in labels.items() if value]
    )
    segmenter = Segmenter(
        model.network,
        model.preprocessing,
        model.inference,
        limits=settings.limits,
        classes=len(labels) if model.labels and regions is None else None,
        regions=regions,
        normalizer=project.normalizer_for(model.preprocessing),
    )
    project_metrics = tuple(project.metrics)

    rows: list[CaseRow] = []
    overlays: list[OverlayCase] = []
    for case in cases:
        image = read_case_image(case, channels)
        try:
            # Planned from the header and refused before the case's label is even read.
            segmenter.check(image)
        except WorkLimitError as exc:
            raise exc.for_path(case.images[0]) from None
        truth = read_nifti(case.label).array.astype("uint8")
        prediction = segmenter.segment(image)
        rows.extend(
            score_structures(
                case.case_id,
                prediction,
                truth,
                labels if regions is None else regions,
                image.spacing,
                project_metrics,
            )
        )
        if len(overlays) < settings.evaluate.overlay_cases:
            overlays.append(overlay_case(case.case_id, image, truth, prediction))
    extra = [metric.name for metric in project_metrics]
    summary = _summaries(rows, structures, settings, extra)

    output_dir = project.binding.resolve_path(settings.evaluate.output_dir)
    report_dir = output_dir / f"{model.name}-v{model.version}"
    columns = ["case_id", "label", "dice", "hd95_mm", *extra]
    table, summary_path = _write_local(report_dir, rows, summary, columns)
    # z-scored MRI has no fixed window: each slice is shown by its own percentiles.
    window = model.preprocessing.window if model.preprocessing.normalize == "window" else None
    figure = (project.overlays or default_overlays)(overlays, regions, window)
    figure.savefig(report_dir / "overlays.png", dpi=100)

    manifest = data.manifest(cases)
    with evaluation_run(
        settings,
        project.binding.repo_root,
        model_name=model.name,
        model_version=model.version,
        model_alias=model.alias,
        manifest=manifest,
    ) as run:
        metrics = {}
        for key, estimate in summary.items():
            metrics.update({k: v for k, v in estimate.as_dict(key).items() if math.isfinite(v)})
        metrics["num_cases"] = len(cases)
        mlflow.log_metrics(metrics)
        mlflow.log_table(
            {k: [r.as_row()[k] for r in rows] for k in columns},
            artifact_file="evaluation/per_case_metrics.json",
        )
        mlflow.log_artifact(str(table), artifact_path="evaluation")
        mlflow.log_artifact(str(summary_path), artifact_path="evaluation")
        mlflow.log_figure(figure, "evaluation/overlays.png")
    digest = manifest.digest
    if record:
        tags = evaluation_tags(PRIMARY_METRIC, summary[PRIMARY_METRIC], run.info.run_id, digest)
        tag_version(model.name, model.version, tags)
    return EvaluationReport(
        model.name,
        model.version,
        model.alias,
        tuple(rows),
        summary,
        report_dir,
        run.info.run_id,
        digest,
        ("hd95", *(m.name for m in project_metrics if not m.higher_is_better)),
    )


def score_structures(  # noqa: PLR0917 - the case's parts, as evaluate holds them
    case_id: str,
    prediction: np.ndarray,
    truth: np.ndarray,
    structures: Mapping[int, str] | Regions,
    spacing: Sequence[float],
    metrics: Sequence[StructureMetric] = (),
) -> list[CaseRow]:
    """One row per structure of a case: the kind's Dice and HD95, then the project's metrics.

    Raises:
        TypeError: a project metric returned something that is not a number (named).
    """
    rows = []
    for masks in structure_masks(prediction, truth, structures):
        kind = score_mask(masks.predicted, masks.true, masks.name, spacing)
        extra = {}
        for metric in metrics:
            value = metric.compute(masks.predicted, masks.true, spacing)
            if not isinstance(value, (int, float, np.floating, np.integer)):
                raise TypeError(
                    f"metric {metric.name!r} returned {type(value).__name__}, expected a number"
                )
            extra[metric.name] = float(value)
        rows.append(CaseRow(case_id, masks.name, kind.dice, kind.hd95_mm, extra))
    return rows


def overlay_case(
    case_id: str, image: Volume | ChannelVolume, truth: np.ndarray, prediction: np.ndarray
) -> OverlayCase:
    """What the figure draws of one case: its first channel, every channel by name."""
    if isinstance(image, Volume):
        return OverlayCase(case_id, image.array, truth, prediction)
    named = dict(zip(image.channels, image.array, strict=True))
    return OverlayCase(case_id, image.array[0], truth, prediction, named)


def gate_scores(report: EvaluationReport) -> GateScores:
    """The report as the deployment gate compares it: Dice higher, HD95 lower is better.

    A project metric is read the way it declares (``StructureMetric.higher_is_better``).
    """
    lower = tuple(f"{name}_" for name in report.lower_is_better)
    metrics = {
        key: GateMetric(estimate.mean, higher_is_better=not key.startswith(lower))
        for key, estimate in report.summary.items()
    }
    return GateScores(report.model_version, PRIMARY_METRIC, metrics, report.data_digest)
