"""Turn the uploaded parts (NIfTI, or a DICOM series) into a validated volume, or a 4xx."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import UploadFile
from starlette.concurrency import run_in_threadpool

from medai.io import DicomAcceptance, Volume
from medai.serving import ApiError, ServingSettings
from medai.serving.uploads import UploadError, UploadLimits, UploadPart, read_volume_upload


async def volume_from_upload(
    files: Sequence[UploadFile],
    settings: ServingSettings,
    accept: DicomAcceptance | None = None,
) -> Volume:
    """Read every part (the body limit already capped the request) and decode the volume.

    Headers are checked before pixel data is decoded (``read_volume_upload``); decoding
    runs in a worker thread so the event loop keeps answering ``/health``.

    Args:
        files: The uploaded parts.
        settings: The server's size limits.
        accept: The DICOM modalities, image types and body parts the project accepts.

    Raises:
        ApiError: 413, 415 or 422 with the reason in one line (422 ``input_not_accepted``
            for a DICOM of another modality, image type or body part).
    """
    parts = [UploadPart(filename=None, data=await upload.read()) for upload in files]
    limits = UploadLimits(max_bytes=settings.max_body_bytes, max_voxels=settings.max_voxels)
    try:
        return await run_in_threadpool(read_volume_upload, parts, limits, accept)
    except UploadError as exc:
        raise ApiError(exc.status, exc.code, exc.message) from None
