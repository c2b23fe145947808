"""``POST /v1/predict``: a CT volume in, the organ/lesion mask out."""

from __future__ import annotations

from typing import Annotated, Literal, cast

from fastapi import APIRouter, File, Query, UploadFile
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from ct_seg.api.served_model import CtSegServedModel
from ct_seg.api.utils.response import (
    NIFTI_GZ_MEDIA_TYPE,
    SegmentationSummary,
    nifti_gz_bytes,
    summarize,
)
from ct_seg.api.utils.validation import volume_from_upload
from medai.serving import ErrorResponse, ModelDep, SettingsDep

router = APIRouter(prefix="/v1", tags=["prediction"])

FILE_HELP = (
    "One NIfTI file (.nii or .nii.gz), or a DICOM series: one .zip of its .dcm files, "
    "or several `file` parts, one slice each. The format is detected from the content."
)


@router.post(
    "/predict",
    summary="Segment a CT volume",
    response_model=SegmentationSummary,
    responses={
        200: {
            "description": "The mask (NIfTI, gzip) on the input's grid and affine; "
            "or, with `format=json`, a summary per structure.",
            "content": {NIFTI_GZ_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
        },
        415: {"model": ErrorResponse, "description": "Not NIfTI, DICOM or a zip of DICOM."},
        422: {"model": ErrorResponse, "description": "Unreadable image, wrong dimensions."},
    },
)
async def predict(
    model: ModelDep,
    settings: SettingsDep,
    file: Annotated[list[UploadFile], File(description=FILE_HELP)],
    response_format: Annotated[
        Literal["nifti", "json"],
        Query(alias="format", description="nifti: the mask file; json: a summary"),
    ] = "nifti",
) -> Response | SegmentationSummary:
    """Segment the uploaded volume with the served model."""
    served = cast("CtSegServedModel", model)  # create_app holds what load_model returned
    volume = await volume_from_upload(file, settings)
    mask = await run_in_threadpool(served.segment, volume)
    if response_format == "json":
        return summarize(mask, volume, served.labels, served.card.name, served.card.version)
    body = await run_in_threadpool(nifti_gz_bytes, mask, volume.affine)
    return Response(
        content=body,
        media_type=NIFTI_GZ_MEDIA_TYPE,
        headers={
            "Content-Disposition": 'attachment; filename="mask.nii.gz"',
            "X-Model-Name": served.card.name,
            "X-Model-Version": served.card.version,
        },
    )
