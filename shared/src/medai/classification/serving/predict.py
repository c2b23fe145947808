"""``POST /v1/predict``: one radiograph in, probabilities and positive findings out (JSON).

``?heatmap=LABEL`` (repeatable; or ``positive``, or ``all``) adds the Grad-CAM overlays
of those labels to the JSON as base64 PNGs: one request, one body, one schema.
"""

from __future__ import annotations

from typing import Annotated, Any, cast

from fastapi import APIRouter, File, Query, UploadFile
from starlette.concurrency import run_in_threadpool

from medai.classification.project import ClassificationProject
from medai.classification.serving.model import ClassificationServedModel
from medai.classification.serving.response import (
    ALL_HEATMAPS,
    POSITIVE_HEATMAPS,
    ClassificationResult,
    HeatmapChoiceError,
    classification_result,
    heatmap_labels,
    positive_findings,
    render_heatmaps,
)
from medai.classification.serving.validation import ACCEPTED, radiograph_from_upload
from medai.inference.budget import WorkLimitError
from medai.serving import ApiError, ErrorResponse, ModelDep

FILE_HELP = (
    f"{ACCEPTED[0].upper()}{ACCEPTED[1:]}. The format is detected from the content; "
    "the file name is ignored."
)
HEATMAP_HELP = (
    "Add the Grad-CAM overlay (a base64 PNG) of a label to the answer: a label name, "
    f"`{POSITIVE_HEATMAPS}` (every positive finding) or `{ALL_HEATMAPS}`. Repeatable."
)
_MAX_HEATMAP_CHOICES = 32


async def predict(
    model: ModelDep,
    file: Annotated[UploadFile, File(description=FILE_HELP)],
    heatmap: Annotated[
        list[str] | None,
        Query(description=HEATMAP_HELP, max_length=_MAX_HEATMAP_CHOICES),
    ] = None,
) -> ClassificationResult:
    """Classify the uploaded radiograph with the served model."""
    served = cast("ClassificationServedModel", model)  # create_app holds what load_model returned
    radiograph = await radiograph_from_upload(file, served.limits)
    try:
        output = await run_in_threadpool(served.predict, radiograph.pixels)
    except WorkLimitError as exc:
        raise ApiError(413, "work_limit_exceeded", exc.reason) from None
    positives = positive_findings(output.probabilities, served.thresholds)
    try:
        wanted = heatmap_labels(heatmap or [], served.labels, positives)
    except HeatmapChoiceError as exc:
        raise ApiError(422, "unknown_label", str(exc)) from None
    pngs = await run_in_threadpool(render_heatmaps, radiograph, output, served.labels, wanted)
    return classification_result(
        model_name=served.card.name,
        model_version=served.card.version,
        output=output,
        thresholds=served.thresholds,
        radiograph=radiograph,
        heatmaps=pngs,
    )


def predict_router(project: ClassificationProject[Any]) -> APIRouter:
    """The project's ``/v1`` router holding ``POST /v1/predict``."""
    router = APIRouter(prefix="/v1", tags=["prediction"])
    router.add_api_route(
        "/predict",
        predict,
        methods=["POST"],
        summary=f"Classify a {project.modality}",
        response_model=ClassificationResult,
        responses={
            200: {"description": "Probabilities per label, positive findings, heatmaps asked for."},
            413: {
                "model": ErrorResponse,
                "description": "The body or the image (rows x columns) is over the limit, "
                "or classifying it would be (`work_limit_exceeded`, naming the limit).",
            },
            415: {"model": ErrorResponse, "description": "Not a PNG, JPEG or DICOM file."},
            422: {
                "model": ErrorResponse,
                "description": (
                    "Not usable: empty, corrupt, not a radiograph (e.g. a CT slice or an RT "
                    "plan), colour or 16-bit PNG, too small; or an unknown heatmap label."
                ),
            },
        },
    )
    return router
