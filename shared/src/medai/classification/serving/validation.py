"""Turn the uploaded file into a checked radiograph, or into the 4xx that says why not.

``medai.io.read_radiograph`` does the work: the format comes from the content, never the
client's file name; modality, frames, photometric interpretation and size are checked
from the header before any pixel is decoded; and messages hold technical values only.
Decoding runs in a worker thread so the event loop keeps answering ``/health``.
"""

from __future__ import annotations

from typing import Final

from fastapi import UploadFile
from starlette.concurrency import run_in_threadpool

from medai.io import (
    CorruptImageError,
    InputNotAcceptedError,
    MedicalImageError,
    NotARadiographError,
    Radiograph,
    RadiographLimits,
    TooManyPixelsError,
    UnknownImageFormatError,
    UnsupportedImageError,
    read_radiograph,
)
from medai.serving import ApiError

UPLOAD_NAME: Final = "file"
"""How messages name the upload: the form field, never the client's file name."""

ACCEPTED = "one PNG or JPEG (8-bit grayscale) or one DICOM radiograph (CR, DX)"

_ANSWERS: Final[tuple[tuple[type[MedicalImageError], int, str], ...]] = (
    (UnknownImageFormatError, 415, "unsupported_media_type"),
    (TooManyPixelsError, 413, "too_many_pixels"),
    (NotARadiographError, 422, "not_a_radiograph"),
    (InputNotAcceptedError, 422, "input_not_accepted"),
    (UnsupportedImageError, 422, "unsupported_image"),
    (CorruptImageError, 422, "unreadable_image"),
)
"""Reader error -> HTTP status and code; any other ``MedicalImageError`` is a 422."""


def api_error_of(exc: MedicalImageError) -> ApiError:
    """The answer to a reader error: its status, a stable code and ``file: <reason>``."""
    for kind, status, code in _ANSWERS:
        if isinstance(exc, kind):
            message = f"{UPLOAD_NAME}: {exc.reason}"
            if status == 415:  # noqa: PLR2004 - say what is accepted instead
                message += f"; send {ACCEPTED}"
            return ApiError(status, code, message)
    return ApiError(422, "unreadable_image", f"{UPLOAD_NAME}: {exc.reason}")


async def radiograph_from_upload(upload: UploadFile, limits: RadiographLimits) -> Radiograph:
    """Read the upload (the body limit already capped it) and decode it in a thread.

    Raises:
        ApiError: 422 ``empty_upload`` for an empty file, else the reader's refusal
            (413, 415 or 422) with its reason in one line.
    """
    data = await upload.read()
    if not data:
        raise ApiError(422, "empty_upload", f"{UPLOAD_NAME}: is empty; send {ACCEPTED}")
    try:
        return await run_in_threadpool(read_radiograph, data, name=UPLOAD_NAME, limits=limits)
    except MedicalImageError as exc:
        raise api_error_of(exc) from None
