"""``POST /v1/predict``: a volume in, its label mask (NIfTI) or a JSON summary out.

The parts a request carries depend on the model served (``validation``): a one-channel
model takes one NIfTI or a DICOM series in ``file``; a multi-channel model one 4D NIfTI
in ``file`` or one 3D NIfTI per channel in parts named after the channels. The form is
therefore read whole from the request rather than declared field by field; the docs
say so.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, cast

import numpy as np
from fastapi import APIRouter, File, Query, Request, UploadFile
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from medai.inference.budget import WorkLimitError
from medai.io import ChannelVolume, MedicalImageError, Volume
from medai.segmentation.project import SegmentationProject
from medai.segmentation.serving.model import SegmentationServedModel
from medai.segmentation.serving.response import (
    NIFTI_GZ_MEDIA_TYPE,
    SegmentationSummary,
    nifti_gz_bytes,
    summarize,
)
from medai.segmentation.serving.validation import (
    FILE_FIELD,
    channels_from_upload,
    volume_from_upload,
)
from medai.serving import ApiError, ErrorResponse, ModelDep, SettingsDep
from medai.serving.uploads import ACCEPTED_FORMATS

FILE_HELP = (
    "One NIfTI file (.nii or .nii.gz), or a DICOM series: one .zip of its .dcm files, "
    "or several `file` parts, one slice each. The format is detected from the content. "
    "A multi-channel model takes one 4D NIfTI (channels on the last axis) here, or no "
    "`file` and one 3D NIfTI part per channel instead."
)

PARTS_HELP = (
    "One-channel models: the `file` part(s). Multi-channel models (the JSON list in the "
    '`medai.channels` tag of `GET /v1/model`, e.g. `["T1", "T1c", "T2", "FLAIR"]`): '
    "either one 4D NIfTI in `file` with that many channels on its last axis, or one 3D "
    "NIfTI per channel, each in a part named after its channel in any case (`t1`, `t1c`, "
    "`t2`, `flair`), all of one shape and affine. A missing, unknown or repeated part is "
    "a 422 `invalid_channels` naming the channels expected."
)


async def predict(
    request: Request,
    model: ModelDep,
    settings: SettingsDep,
    file: Annotated[list[UploadFile] | None, File(description=FILE_HELP)] = None,
    response_format: Annotated[
        Literal["nifti", "json"],
        Query(alias="format", description="nifti: the mask file; json: a summary"),
    ] = "nifti",
) -> Response | SegmentationSummary:
    """Segment the uploaded volume with the served model."""
    served = cast("SegmentationServedModel", model)  # create_app holds what load_model returned
    volume: Volume | ChannelVolume
    if served.multichannel:
        form = await request.form()  # parsed once already, for `file`: Starlette keeps it
        volume = await channels_from_upload(form.multi_items(), served.channels, settings)
    elif file:
        volume = await volume_from_upload(file, settings, served.accept)
    else:
        message = f"the upload has no '{FILE_FIELD}' part; send {ACCEPTED_FORMATS}"
        raise ApiError(422, "invalid_request", message)
    mask = await run_in_threadpool(_segment, served, volume)
    if response_format == "json":
        return summarize(
            mask,
            volume,
            served.labels,
            served.card.name,
            served.card.version,
            regions=served.regions,
        )
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


def _segment(served: SegmentationServedModel, volume: Volume | ChannelVolume) -> np.ndarray:
    """The mask, or the 4xx that says why the volume cannot be segmented.

    The segmenter plans the work from the header first: a refusal costs milliseconds.

    Raises:
        ApiError: 413 ``work_limit_exceeded`` naming the limit and the figures, or 422
            ``invalid_geometry`` for an affine that places no volume in space.
    """
    try:
        return served.segment(volume)
    except WorkLimitError as exc:
        raise ApiError(413, "work_limit_exceeded", exc.reason) from None
    except MedicalImageError as exc:
        raise ApiError(422, "invalid_geometry", exc.reason) from None


def predict_router(project: SegmentationProject[Any]) -> APIRouter:
    """The project's ``/v1`` router holding ``POST /v1/predict``."""
    router = APIRouter(prefix="/v1", tags=["prediction"])
    router.add_api_route(
        "/predict",
        predict,
        methods=["POST"],
        summary=f"Segment a {project.modality} volume",
        description=f"Segment the uploaded volume with the served model.\n\n{PARTS_HELP}",
        response_model=SegmentationSummary,
        responses={
            200: {
                "description": "The mask (NIfTI, gzip) on the input's grid and affine; "
                "or, with `format=json`, a summary per structure.",
                "content": {
                    NIFTI_GZ_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}
                },
            },
            413: {
                "model": ErrorResponse,
                "description": "The body or the volume is over a limit, or segmenting it would "
                "be (`work_limit_exceeded`: a resampled grid, the sliding windows or the "
                "working memory; the message names the limit).",
            },
            415: {"model": ErrorResponse, "description": "Not NIfTI, DICOM or a zip of DICOM."},
            422: {
                "model": ErrorResponse,
                "description": "Unreadable image, wrong dimensions, or (multi-channel models) "
                "parts that do not name the channels (`invalid_channels`), another channel "
                "count (`invalid_dimensions`) or channels of different grids "
                "(`channel_mismatch`).",
            },
        },
        openapi_extra={"requestBody": {"description": PARTS_HELP}},
    )
    return router
