"""The ``input`` settings: which DICOM inputs a project accepts (modality, type, body part).

Kind-neutral: a segmentation project embeds ``InputSettings`` as its ``input`` section,
the classification kit's ``radiograph`` section extends it with its size limits. The
reader side is ``medai.io.acceptance.DicomAcceptance``; this module needs pydantic only,
so reading a config never imports pydicom.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from pydantic import Field, ValidationInfo, field_validator

from medai.config.sections import Section

if TYPE_CHECKING:
    from medai.io.acceptance import DicomAcceptance

_CODE_STRING = re.compile(r"^[A-Z0-9_ ]{1,16}$")
"""DICOM's Code String (CS) value representation: upper case, digits, space, underscore."""


def _code_strings(values: tuple[str, ...], key: str) -> tuple[str, ...]:
    cleaned = tuple(value.strip().upper() for value in values)
    for value in cleaned:
        if not _CODE_STRING.match(value):
            raise ValueError(
                f"{key}: {value!r} is not a DICOM code string "
                "(1-16 upper-case letters, digits, spaces or underscores, e.g. CT, MR, CHEST)"
            )
    return cleaned


class InputSettings(Section):
    """DICOM inputs the project accepts, in serving, ``invoke predict`` and data loading.

    Checked from each file's header before pixel data is decoded; NIfTI carries no
    modality and is taken as declared.
    """

    allowed_modalities: tuple[str, ...] = Field(
        default=(),
        description="DICOM Modality values accepted (e.g. [CT]); empty: any modality.",
    )
    refused_image_types: tuple[str, ...] = Field(
        default=("LOCALIZER",),
        description="ImageType values refused (LOCALIZER: a scout projection, not an image).",
    )
    allowed_body_parts: tuple[str, ...] = Field(
        default=(),
        description="BodyPartExamined values accepted when present; empty: any.",
    )

    @field_validator("allowed_modalities", "refused_image_types", "allowed_body_parts")
    @classmethod
    def _are_code_strings(cls, values: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        return _code_strings(values, str(info.field_name))

    def acceptance(self) -> DicomAcceptance:
        """The reader-side check (imports pydicom, hence not at module level)."""
        from medai.io.acceptance import DicomAcceptance  # noqa: PLC0415 - keep config light

        return DicomAcceptance(
            modalities=self.allowed_modalities,
            refused_image_types=self.refused_image_types,
            body_parts=self.allowed_body_parts,
        )
