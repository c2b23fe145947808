"""What a project accepts as input, checked from a DICOM header before any pixel is decoded.

A network trained on CT has learnt Hounsfield units: fed an MR series it still answers,
with a confident and meaningless mask. The same holds for a CT localizer (a projection
scout, not a volume) given to a 3D segmenter, or a knee radiograph given to a chest
classifier. So every project declares the DICOM Modality values, image types and body
parts it accepts (its config's ``input`` or ``radiograph`` section), and every reader
refuses the others with a message naming what was sent and what is accepted.

The values named (Modality, ImageType, BodyPartExamined) are coded technical terms, not
patient data; they are still cut short and stripped of anything but printable ASCII, so
a hostile header cannot smuggle text into logs.

NIfTI files carry no modality: they are accepted as the user declared them (the docs of
each project say so).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from pydicom.dataset import Dataset

from medai.io.errors import MedicalImageError

__all__ = ["DicomAcceptance", "InputNotAcceptedError"]

_MAX_SHOWN_CHARS: Final = 16
_MAX_SHOWN_VALUES: Final = 6
_UNPRINTABLE: Final = re.compile(r"[^\x20-\x7e]")


class InputNotAcceptedError(MedicalImageError):
    """A readable image of a modality, image type or body part the project does not accept."""


def _shown(value: object) -> str:
    """A header value fit for a message: printable ASCII, at most 16 characters."""
    text = _UNPRINTABLE.sub("?", str(value).strip())
    return text if len(text) <= _MAX_SHOWN_CHARS else text[: _MAX_SHOWN_CHARS - 3] + "..."


def _listed(values: Iterable[str]) -> str:
    return ", ".join(values)


def _normalised(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(value.strip().upper() for value in values)


def _values_of(header: Dataset, keyword: str) -> list[str]:
    """The element's values as upper-case strings ([] when absent or empty).

    A value pydicom cannot convert (hostile bytes in a raw element) counts as absent for
    the optional attributes and as "no Modality" for the required one: refused either way
    where it matters, never a crash.
    """
    if keyword not in header:
        return []
    try:
        element = header[keyword]
        value = element.value
        multiple = element.VM > 1
    except (ValueError, TypeError, KeyError, IndexError, OverflowError, UnicodeError):
        return []
    if value is None or value == "":
        return []
    items = list(value) if multiple or isinstance(value, (list, tuple)) else [value]
    return [str(item).strip().upper() for item in items if str(item).strip()]


@dataclass(frozen=True)
class DicomAcceptance:
    """The DICOM inputs a project accepts, as coded header values.

    Attributes:
        modalities: Modality (0008,0060) values accepted, e.g. ``("CT",)``. Empty means
            any modality (a project that truly takes anything says so explicitly).
        refused_image_types: ImageType (0008,0008) values that refuse an image when any of
            its values is one of them: ``LOCALIZER`` is a CT/MR scout, a projection that no
            3D model can segment.
        body_parts: BodyPartExamined (0018,0015) values accepted, e.g. ``("CHEST",)``.
            Empty means any. A header without the attribute is accepted: it is optional and
            often left out, and refusing every such file would refuse most real archives.
    """

    modalities: tuple[str, ...] = ()
    refused_image_types: tuple[str, ...] = ("LOCALIZER",)
    body_parts: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        """Store the coded values upper-case and stripped, as DICOM compares them."""
        object.__setattr__(self, "modalities", _normalised(self.modalities))
        object.__setattr__(self, "refused_image_types", _normalised(self.refused_image_types))
        object.__setattr__(self, "body_parts", _normalised(self.body_parts))

    def problem(self, header: Dataset) -> str | None:
        """Why ``header`` is not accepted, in one phrase, or None when it is.

        Args:
            header: A DICOM dataset, read with ``stop_before_pixels=True`` or not.

        Returns:
            E.g. ``"has Modality MR; this project accepts CT"``, or None.
        """
        if self.modalities:
            modality = _values_of(header, "Modality")
            if not modality:
                return f"has no Modality; this project accepts {_listed(self.modalities)}"
            if modality[0] not in self.modalities:
                return (
                    f"has Modality {_shown(modality[0])}; "
                    f"this project accepts {_listed(self.modalities)}"
                )
        refused = [t for t in _values_of(header, "ImageType") if t in self.refused_image_types]
        if refused:
            return (
                f"has ImageType {_shown(refused[0])}, which this project refuses "
                f"(refused: {_listed(self.refused_image_types)})"
            )
        if self.body_parts:
            body_part = _values_of(header, "BodyPartExamined")
            if body_part and body_part[0] not in self.body_parts:
                return (
                    f"has BodyPartExamined {_shown(body_part[0])}; "
                    f"this project accepts {_listed(self.body_parts[:_MAX_SHOWN_VALUES])}"
                )
        return None

    def check(self, header: Dataset, where: str | os.PathLike[str], what: str = "") -> None:
        """Raise when ``header`` is not accepted.

        Args:
            header: The DICOM dataset.
            where: The file or folder, for the error's path.
            what: What to call the file inside ``where`` (``"file slice_0003.dcm"``), if any.

        Raises:
            InputNotAcceptedError: The header's modality, image type or body part is not
                accepted.
        """
        reason = self.problem(header)
        if reason is not None:
            raise InputNotAcceptedError(where, f"{what} {reason}".strip())
