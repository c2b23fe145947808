"""Turn the uploaded parts into a validated volume (one channel) or channel volume, or a 4xx.

A one-channel model takes what it always took: one NIfTI, or a DICOM series, in the
``file`` part(s). A multi-channel model (its card's ``medai.channels``, e.g. four MRI
contrasts) takes either one 4D NIfTI in ``file`` (channels last) or one 3D NIfTI per
channel, each in a part named after its channel, in any case (``t1``, ``t1c``, ``t2``,
``flair``). Part names are checked before any byte is decoded, and every refusal names
what was expected; a part's name is repeated in a message only when it is a short plain
word (a field name is client data too).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from medai.io import ChannelVolume, DicomAcceptance, Volume
from medai.serving import ApiError, ServingSettings
from medai.serving.uploads import (
    ACCEPTED_CHANNEL_FORMATS,
    UploadError,
    UploadLimits,
    UploadPart,
    read_channels_upload,
    read_volume_upload,
)

FILE_FIELD: Final = "file"
"""The part that holds a whole image: a NIfTI (3D, or 4D for a multi-channel model) or DICOM."""

INVALID_CHANNELS: Final = "invalid_channels"
"""Error code of a multi-channel upload whose parts do not name the model's channels."""

_SHOWN_NAME = re.compile(r"[A-Za-z0-9_.-]{1,32}")

FormItems = Sequence[tuple[str, UploadFile | str]]
"""A multipart form's ``(field name, value)`` pairs, in the order the client sent them.

Starlette's ``UploadFile``: what the parsed form holds (FastAPI's is its subclass).
"""


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
    try:
        return await run_in_threadpool(read_volume_upload, parts, _limits(settings), accept)
    except UploadError as exc:
        raise ApiError(exc.status, exc.code, exc.message) from None


async def channels_from_upload(
    items: FormItems, channels: Sequence[str], settings: ServingSettings
) -> ChannelVolume:
    """A multi-channel model's input: one 4D NIfTI in ``file``, or one 3D NIfTI per channel.

    Args:
        items: Every part of the form, as sent.
        channels: The channel names the model takes, in order (``medai.channels``).
        settings: The server's size limits, for all channels together.

    Raises:
        ApiError: 422 ``invalid_channels`` when the parts do not name the channels
            (missing, unknown, repeated, not a file, ``file`` beside named parts), else
            the upload's 413, 415 or 422 (a 4D file with another channel count, channels
            of different shapes or affines, naming the channels).
    """
    wanted = [name.lower() for name in channels]
    uploads, names = _channel_parts(items, wanted)
    parts = [UploadPart(filename=None, data=await upload.read()) for upload in uploads]
    try:
        return await run_in_threadpool(
            lambda: read_channels_upload(parts, channels, _limits(settings), names=names)
        )
    except UploadError as exc:
        raise ApiError(exc.status, exc.code, exc.message) from None


def _channel_parts(items: FormItems, wanted: Sequence[str]) -> tuple[list[UploadFile], list[str]]:
    """The uploads in channel order and how messages name them, or the 422 saying why not."""
    expected = ", ".join(wanted)
    files: list[tuple[str, UploadFile]] = []
    for name, value in items:
        if not isinstance(value, UploadFile):
            raise _invalid(f"part {_shown(name)} is not a file; send {_what(wanted)}")
        files.append((name, value))
    whole = [upload for name, upload in files if name == FILE_FIELD]
    if whole:
        if len(files) > 1:
            raise _invalid(
                f"send either one 4D NIfTI as '{FILE_FIELD}' or one part per channel "
                f"({expected}), not {len(files)} parts"
                + (" with a 'file' among them" if len(whole) < len(files) else "")
            )
        return whole, ["part 'file'"]
    by_channel: dict[str, UploadFile] = {}
    for name, upload in files:
        key = name.lower()
        if key not in wanted:
            raise _invalid(f"unknown part {_shown(name)}; expected {expected}")
        if key in by_channel:
            raise _invalid(f"duplicate part '{key}'; send each channel once ({expected})")
        by_channel[key] = upload
    missing = [name for name in wanted if name not in by_channel]
    if missing:
        raise _invalid(
            f"expected {len(wanted)} channels ({expected}), got {len(by_channel)}: "
            f"missing {', '.join(missing)}"
        )
    return [by_channel[name] for name in wanted], [f"part '{name}'" for name in wanted]


def _what(wanted: Sequence[str]) -> str:
    return f"{ACCEPTED_CHANNEL_FORMATS} named {', '.join(wanted)}"


def _shown(name: str) -> str:
    """A part's name as a message may repeat it: quoted if a short plain word, else hidden."""
    return f"'{name}'" if _SHOWN_NAME.fullmatch(name) else "(name not shown)"


def _invalid(message: str) -> ApiError:
    return ApiError(422, INVALID_CHANNELS, message)


def _limits(settings: ServingSettings) -> UploadLimits:
    return UploadLimits(max_bytes=settings.max_body_bytes, max_voxels=settings.max_voxels)
