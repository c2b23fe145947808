"""The numeric DICOM attributes the DICOM readers compute with, checked before decoding.

read_dicom_series and read_radiograph both hand stored values to pydicom's Modality LUT
(RescaleSlope/Intercept, or a Modality LUT Sequence), and read_radiograph then to its VOI
transform (a VOI LUT Sequence, or WindowCenter/WindowWidth). pydicom computes with whatever
the header says: NaN comes out as NaN pixels, a descriptor that disagrees with its table as
an IndexError. These functions take the same decisions pydicom takes (which of the
transforms applies) and check what it will use by the rules in medai.io.header_checks.
"""

from __future__ import annotations

import struct
from collections.abc import Sized
from typing import Final

from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from medai.io import header_checks
from medai.io.errors import InvalidHeaderValueError

PYDICOM_ERRORS: Final = (
    InvalidDicomError,
    AttributeError,
    EOFError,
    IndexError,
    KeyError,
    NotImplementedError,
    OSError,
    OverflowError,
    RuntimeError,
    TypeError,
    ValueError,
    struct.error,
    # pydicom reports values it finds invalid with a UserWarning; a process that turns
    # warnings into errors (the test suite does) receives it as an exception instead.
    UserWarning,
)
"""What pydicom and its decoder plugins raise on malformed or hostile bytes."""

_WORD_BYTES: Final = 2


def value_of(source: header_checks.Source, prefix: str, dataset: Dataset, keyword: str) -> object:
    """The value of an element, or an InvalidHeaderValueError if pydicom cannot parse it.

    Args:
        source: Names the file in the error.
        prefix: Put before the keyword in the message ("" or "file 3: ").
        dataset: The header.
        keyword: The element; the caller has checked that it is present.

    Raises:
        InvalidHeaderValueError: If its bytes do not parse as its VR (a 3-byte FD).
    """
    try:
        return dataset[keyword].value
    except PYDICOM_ERRORS as exc:
        raise InvalidHeaderValueError(source, f"{prefix}{keyword} cannot be parsed") from exc


def check_modality_lut(source: header_checks.Source, prefix: str, dataset: Dataset) -> None:
    """Check what pydicom's apply_modality_lut (and its windowing range) will use.

    A Modality LUT Sequence wins over the rescale, as in pydicom; RescaleSlope and
    RescaleIntercept are checked whenever present, because pydicom's windowing uses them
    to size the output range even when a LUT maps the pixels.

    Raises:
        InvalidHeaderValueError: If the LUT's descriptor or data are unusable, only one of
            RescaleSlope and RescaleIntercept is given, or either is out of range.
    """
    if "ModalityLUTSequence" in dataset and (
        sequence := value_of(source, prefix, dataset, "ModalityLUTSequence")
    ):
        item = _first_item(source, f"{prefix}ModalityLUTSequence", sequence)
        check_lut(source, f"{prefix}ModalityLUTSequence[0]", item, header_checks.MODALITY_LUT_BITS)
    has_slope, has_intercept = "RescaleSlope" in dataset, "RescaleIntercept" in dataset
    if has_slope != has_intercept:
        given, missing = (
            ("RescaleSlope", "RescaleIntercept")
            if has_slope
            else ("RescaleIntercept", "RescaleSlope")
        )
        raise InvalidHeaderValueError(
            source, f"{prefix}{given} is given without {missing}; expected both or neither"
        )
    if has_slope:
        header_checks.rescale_slope(
            source, f"{prefix}RescaleSlope", value_of(source, prefix, dataset, "RescaleSlope")
        )
        header_checks.rescale_intercept(
            source,
            f"{prefix}RescaleIntercept",
            value_of(source, prefix, dataset, "RescaleIntercept"),
        )


def has_voi_lut(dataset: Dataset) -> bool:
    """The test pydicom's apply_voi_lut makes: a first item with descriptor and data."""
    sequence = dataset.get("VOILUTSequence")
    if not sequence:
        return False
    item = sequence[0]
    return item.get("LUTDescriptor") is not None and item.get("LUTData") is not None


def has_window(dataset: Dataset) -> bool:
    """The test pydicom's apply_voi_lut makes: both WindowCenter and WindowWidth non-empty."""
    return dataset.get("WindowCenter") is not None and dataset.get("WindowWidth") is not None


def check_voi(source: header_checks.Source, prefix: str, dataset: Dataset) -> None:
    """Check the VOI transform pydicom's apply_voi_lut will apply: a VOI LUT, else a window.

    Raises:
        InvalidHeaderValueError: If the VOI LUT or the window that applies is unusable.
    """
    try:
        voi_lut, window = has_voi_lut(dataset), has_window(dataset)
    except PYDICOM_ERRORS as exc:
        raise InvalidHeaderValueError(
            source, f"{prefix}VOILUTSequence or WindowCenter/WindowWidth cannot be parsed"
        ) from exc
    if voi_lut:
        item = dataset.VOILUTSequence[0]
        check_lut(source, f"{prefix}VOILUTSequence[0]", item, header_checks.VOI_LUT_BITS)
    elif window:
        header_checks.window(
            source,
            prefix,
            value_of(source, prefix, dataset, "WindowCenter"),
            value_of(source, prefix, dataset, "WindowWidth"),
            dataset.get("VOILUTFunction"),
        )


def check_lut(
    source: header_checks.Source, attribute: str, item: Dataset, bits: frozenset[int]
) -> None:
    """Check one LUT item: its descriptor, and that LUTData holds as many entries as it says.

    Raises:
        InvalidHeaderValueError: If LUTDescriptor or LUTData is missing or they disagree.
    """
    for keyword in ("LUTDescriptor", "LUTData"):
        if item.get(keyword) is None:
            raise InvalidHeaderValueError(source, f"{attribute} has no {keyword}")
    header_checks.lut_descriptor(
        source,
        attribute,
        value_of(source, f"{attribute}.", item, "LUTDescriptor"),
        data_entries=_lut_entries(source, attribute, item),
        bits=bits,
    )


def _lut_entries(source: header_checks.Source, attribute: str, item: Dataset) -> int:
    """How many entries LUTData holds: 16-bit words when it is OW bytes (as pydicom reads it)."""
    data = value_of(source, f"{attribute}.", item, "LUTData")
    if isinstance(data, bytes):
        return len(data) // _WORD_BYTES
    if isinstance(data, str):
        return 0  # text where numbers belong: no entries pydicom could use
    if isinstance(data, Sized):
        return len(data)
    return 1


def _first_item(source: header_checks.Source, attribute: str, sequence: object) -> Dataset:
    try:
        item = sequence[0]  # type: ignore[index]
    except PYDICOM_ERRORS as exc:
        raise InvalidHeaderValueError(source, f"{attribute} cannot be parsed") from exc
    if not isinstance(item, Dataset):
        raise InvalidHeaderValueError(source, f"{attribute} is not a sequence of items")
    return item
