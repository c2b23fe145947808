"""Evaluate a registered model on the validation cases: Dice and HD95 with bootstrap CIs.

The model is run through the same ``Segmenter`` that prediction uses, and metrics are
computed on each case's original grid and spacing, which is what a clinician measures.
A label-based model is scored per foreground label; a region model (its ``medai.regions``
tag) per region (``dice_whole_tumour``, ``hd95_tumour_core``, ...), the primary metric
being the mean Dice over its structures either way.
"""

from __future__ import annotations

import csv
import json
import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import mlflow

from medai.data import LabelledCase
from medai.deployment.gate import GateMetric, GateScores
from medai.inference.budget import WorkLimitError
from medai.io import ChannelVolume, Volume, read_channels, read_nifti
from medai.metrics import Estimate, bootstrap_ci
from medai.segmentation.metrics import score_case, score_regions
from medai.segmentation.plots import OverlayCase, plot_overlays, plot_region_overlays
from medai.segmentation.project import SegmentationProject, SettingsT
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
    """One line of the per-case table: one structure (label or region) of one case."""

    case_id: str
    label: str
    dice: float
    hd95_mm: float


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
    rows: list[CaseRow], labels: list[str], settings: SegmentationSettings
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
    # Per-case mean over structures, so the CI resamples cases (the independent unit).
    case_ids = sorted({r.case_id for r in rows})
    case_means = [sum(r.dice for r in rows if r.case_id == c) / len(labels) for c in case_ids]
    summary[PRIMARY_METRIC] = ci(case_means)
    return summary


def _write_local(
    report_dir: Path, rows: list[CaseRow], summary: dict[str, Estimate]
) -> tuple[Path, Path]:
    report_dir.mkdir(parents=True, exist_ok=True)
    table = report_dir / "per_case_metrics.csv"
    with table.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["case_id", "label", "dice", "hd95_mm"])
        writer.writeheader()
        writer.writerows(asdict(r) for r in rows)
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
    )

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
        scores = (
            score_case(prediction, truth, labels, image.spacing)
            if regions is None
            else score_regions(prediction, truth, regions, image.spacing)
        )
        rows.extend(CaseRow(case.case_id, s.label, s.dice, s.hd95_mm) for s in scores)
        if len(overlays) < settings.evaluate.overlay_cases:
            shown = image.array if isinstance(image, Volume) else image.array[0]
            overlays.append(OverlayCase(case.case_id, shown, truth, prediction))
    summary = _summaries(rows, structures, settings)

    output_dir = project.binding.resolve_path(settings.evaluate.output_dir)
    report_dir = output_dir / f"{model.name}-v{model.version}"
    table, summary_path = _write_local(report_dir, rows, summary)
    # z-scored MRI has no fixed window: each slice is shown by its own percentiles.
    window = model.preprocessing.window if model.preprocessing.normalize == "window" else None
    figure = (
        plot_overlays(overlays, window)
        if regions is None
        else plot_region_overlays(overlays, regions, window)
    )
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
            {k: [getattr(r, k) for r in rows] for k in ("case_id", "label", "dice", "hd95_mm")},
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
    )


def gate_scores(report: EvaluationReport) -> GateScores:
    """The report as the deployment gate compares it: Dice higher, HD95 lower is better."""
    metrics = {
        key: GateMetric(estimate.mean, higher_is_better=not key.startswith("hd95_"))
        for key, estimate in report.summary.items()
    }
    return GateScores(report.model_version, PRIMARY_METRIC, metrics, report.data_digest)
