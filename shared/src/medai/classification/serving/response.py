"""The body of a classification: probabilities, positive findings and optional Grad-CAM PNGs.

One schema for the HTTP answer and the ``predict`` command's JSON file, built here from a
``ClassifierOutput``. Heatmaps are chosen by name (a label, ``positive`` or ``all``) and
travel as base64 PNGs inside the JSON, so a client gets everything in one request.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, Sequence
from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from medai.classification.onnx_classifier import ClassifierOutput, heatmap_png
from medai.io import Radiograph

ALL_HEATMAPS = "all"
POSITIVE_HEATMAPS = "positive"
PNG_MEDIA_TYPE: Final = "image/png"

Probability = Annotated[float, Field(ge=0.0, le=1.0)]


class HeatmapChoiceError(ValueError):
    """A requested heatmap that names no label of the model; ``str()`` lists the choices."""


class Heatmap(BaseModel):
    """Where the model looked for one finding: Grad-CAM over the radiograph, as a PNG."""

    label: str = Field(examples=["cardiomegaly"])
    probability: Probability = Field(examples=[0.91])
    media_type: Literal["image/png"] = "image/png"
    png_base64: str = Field(
        description=(
            "A PNG (base64) of the radiograph at the model's input size with the label's "
            "Grad-CAM as a colour overlay; each map is scaled to its own maximum."
        ),
        examples=["iVBORw0KGgoAAAANSUhEUgAA..."],
    )


class ImageSummary(BaseModel):
    """What was read from the upload (technical values only, never header text)."""

    format: Literal["dicom", "png", "jpeg"] = Field(examples=["dicom"])
    rows: int = Field(ge=1, examples=[2048])
    columns: int = Field(ge=1, examples=[2048])
    spacing_mm: tuple[float, float] | None = Field(
        default=None,
        description="Between rows and between columns, from the DICOM header; null for PNG/JPEG.",
        examples=[[0.2, 0.2]],
    )


class ClassificationResult(BaseModel):
    """The model's answer for one radiograph."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "model_name": "cxr-cls",
                    "model_version": "3",
                    "probabilities": {"cardiomegaly": 0.91, "effusion": 0.07},
                    "thresholds": {"cardiomegaly": 0.5, "effusion": 0.5},
                    "positive_findings": ["cardiomegaly"],
                    "image": {"format": "dicom", "rows": 2048, "columns": 2048},
                    "heatmaps": [],
                }
            ]
        }
    )

    model_name: str
    model_version: str
    probabilities: dict[str, Probability] = Field(
        description="Probability that each finding is present, in the model's label order."
    )
    thresholds: dict[str, Probability] = Field(
        description="The operating point: a finding is positive at or above its threshold."
    )
    positive_findings: list[str] = Field(
        description="Labels whose probability reaches their threshold, in label order."
    )
    image: ImageSummary
    heatmaps: list[Heatmap] = Field(
        default_factory=list, description="One per label asked for with `heatmap`; else empty."
    )


def positive_findings(
    probabilities: Mapping[str, float], thresholds: Mapping[str, float]
) -> list[str]:
    """The labels at or above their threshold, in the order of ``probabilities``."""
    return [label for label, p in probabilities.items() if p >= thresholds[label]]


def heatmap_labels(
    requested: Sequence[str], labels: Sequence[str], positives: Sequence[str]
) -> list[str]:
    """The labels to draw: names, ``positive`` (the positive findings) or ``all``, in label order.

    Raises:
        HeatmapChoiceError: a requested name is none of these; the message lists them.
    """
    wanted: set[str] = set()
    for choice in requested:
        if choice == ALL_HEATMAPS:
            wanted.update(labels)
        elif choice == POSITIVE_HEATMAPS:
            wanted.update(positives)
        elif choice in labels:
            wanted.add(choice)
        else:
            shown = choice if len(choice) <= 40 else choice[:37] + "..."  # noqa: PLR2004
            raise HeatmapChoiceError(
                f"heatmap {shown!r} is not a label of the model; choose from "
                f"{', '.join(labels)}, {POSITIVE_HEATMAPS} or {ALL_HEATMAPS}"
            )
    return [label for label in labels if label in wanted]


def image_summary(radiograph: Radiograph) -> ImageSummary:
    """Format, size and spacing of the radiograph that was classified."""
    rows, columns = radiograph.shape
    source = radiograph.source_format
    if source == "npz":  # pragma: no cover - arrays never come through a file or an upload
        raise ValueError("an in-memory array has no file format to report")
    return ImageSummary(format=source, rows=rows, columns=columns, spacing_mm=radiograph.spacing_mm)


def classification_result(
    *,
    model_name: str,
    model_version: str,
    output: ClassifierOutput,
    thresholds: Mapping[str, float],
    radiograph: Radiograph,
    heatmaps: Mapping[str, bytes] | None = None,
) -> ClassificationResult:
    """The answer for one radiograph; ``heatmaps`` maps labels to their PNG bytes."""
    probabilities = dict(output.probabilities)
    return ClassificationResult(
        model_name=model_name,
        model_version=model_version,
        probabilities=probabilities,
        thresholds={label: thresholds[label] for label in probabilities},
        positive_findings=positive_findings(probabilities, thresholds),
        image=image_summary(radiograph),
        heatmaps=[
            Heatmap(
                label=label,
                probability=probabilities[label],
                png_base64=base64.b64encode(png).decode("ascii"),
            )
            for label, png in (heatmaps or {}).items()
        ],
    )


def render_heatmaps(
    radiograph: Radiograph,
    output: ClassifierOutput,
    labels: Sequence[str],
    wanted: Sequence[str],
) -> dict[str, bytes]:
    """The Grad-CAM overlay PNG of every wanted label (``labels``: the model's order)."""
    index = {label: k for k, label in enumerate(labels)}
    return {label: heatmap_png(radiograph.pixels, output.cams[index[label]]) for label in wanted}


def file_stem_of(label: str) -> str:
    """A label as a file-name part: ``'Pleural Effusion'`` -> ``pleural_effusion``."""
    return re.sub(r"[^0-9a-z]+", "_", label.lower()).strip("_") or "label"
