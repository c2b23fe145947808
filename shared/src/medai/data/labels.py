"""Image-level multi-label lists read from the CSV layouts of public chest X-ray datasets.

Two layouts cover most 2D classification data in the field:

* CheXpert (and MIMIC-CXR-JPG, which copied it): a ``Path`` column relative to the dataset's
  parent folder and one column per finding holding ``1.0`` (positive), ``0.0`` (negative),
  ``-1.0`` (uncertain: the report hedged) or blank (not mentioned, read as negative). The
  patient is the ``patientNNNNN`` folder of the path.
* NIH ChestX-ray14: ``Image Index`` (a file name), ``Finding Labels`` (names separated by
  ``|``, or ``No Finding``) and ``Patient ID``.

A label is 1.0, 0.0 or NaN; NaN means "unknown, leave out of the loss and the metrics",
which is what the ``ignore`` policy makes of uncertain CheXpert labels.

Messages name the CSV file, the line (as a spreadsheet numbers rows: the header is line 1)
and the column, never a patient's value: dataset patient ids are pseudonyms, but a site's
own CSV may hold medical record numbers.
"""

from __future__ import annotations

import csv
import math
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Final, Literal

from medai.data.decathlon import DatasetError

__all__ = [
    "CHEXPERT_PATH_COLUMN",
    "CHEXPERT_PATIENT_COLUMNS",
    "NIH_FINDINGS",
    "NIH_NO_FINDING",
    "LabelCsvError",
    "LabelledImage",
    "read_label_csv",
]

CsvLayout = Literal["chexpert", "nih"]
UncertainPolicy = Literal["zeros", "ones", "ignore"]

CHEXPERT_PATH_COLUMN: Final = "Path"
CHEXPERT_PATIENT_COLUMNS: Final = ("Patient", "PatientID")
"""Columns that name the patient when the path has no ``patientNNNNN`` folder."""

NIH_IMAGE_COLUMN: Final = "Image Index"
NIH_FINDINGS_COLUMN: Final = "Finding Labels"
NIH_PATIENT_COLUMN: Final = "Patient ID"
NIH_NO_FINDING: Final = "No Finding"
NIH_FINDINGS: Final = (
    "Atelectasis",
    "Cardiomegaly",
    "Consolidation",
    "Edema",
    "Effusion",
    "Emphysema",
    "Fibrosis",
    "Hernia",
    "Infiltration",
    "Mass",
    "Nodule",
    "Pleural_Thickening",
    "Pneumonia",
    "Pneumothorax",
)
"""The fourteen findings of NIH ChestX-ray14, spelled as its Data_Entry_2017.csv spells them."""

_PATIENT_FOLDER: Final = re.compile(r"patient\d+")
_POSITIVE, _NEGATIVE, _UNCERTAIN = 1.0, 0.0, -1.0
_UNCERTAIN_AS: Final[dict[str, float]] = {"zeros": 0.0, "ones": 1.0, "ignore": math.nan}
_MAX_LISTED_COLUMNS: Final = 30


class LabelCsvError(DatasetError):
    """A label CSV that cannot be used; ``str()`` names the file, line and column."""


@dataclass(frozen=True)
class LabelledImage:
    """One image and its labels, in the order of the label names asked for.

    Attributes:
        path: The image file (checked to exist).
        patient_id: Who the image shows, for patient-level splits.
        labels: 1.0 positive, 0.0 negative, NaN unknown (to be ignored by loss and metrics).
    """

    path: Path
    patient_id: str
    labels: tuple[float, ...]


def read_label_csv(
    csv_path: Path,
    *,
    image_root: Path,
    label_names: Sequence[str],
    layout: CsvLayout,
    uncertain: UncertainPolicy = "zeros",
) -> list[LabelledImage]:
    """Read a CheXpert- or NIH-layout label CSV into a list of labelled images.

    Only the requested label columns (CheXpert) or finding names (NIH) are used; any other
    column is ignored, so the official CSVs can be used as they are.

    Args:
        csv_path: The CSV file (UTF-8; a byte-order mark from Excel is fine).
        image_root: The folder image paths are relative to: for CheXpert the folder that holds
            ``CheXpert-v1.0/``, for NIH the folder holding the image files.
        label_names: The labels wanted, in output order: CheXpert column names or NIH finding
            names.
        layout: ``chexpert`` or ``nih``.
        uncertain: What a CheXpert ``-1`` becomes: ``zeros`` (U-Zeros), ``ones`` (U-Ones) or
            ``ignore`` (NaN). The NIH layout has no uncertain labels.

    Returns:
        One LabelledImage per data row, in file order.

    Raises:
        LabelCsvError: (a DatasetError) naming the file, the line and the column: the file is
            missing or empty, a required or label column is missing, a label value is not 1, 0,
            -1 or blank, an NIH finding name is unknown, a patient cannot be told, or an image
            file does not exist.
        ValueError: If label_names is empty or repeats a name, or a policy or layout is unknown.
    """
    names = _checked_label_names(label_names, layout)
    if uncertain not in _UNCERTAIN_AS:
        raise ValueError(f"uncertain must be one of {sorted(_UNCERTAIN_AS)}, got {uncertain!r}")
    root = Path(os.path.normpath(Path(image_root).expanduser().absolute()))
    rows = _Rows(Path(csv_path))
    if layout == "chexpert":
        return list(_chexpert(rows, root, names, _UNCERTAIN_AS[uncertain]))
    return list(_nih(rows, root, names))


def _checked_label_names(label_names: Sequence[str], layout: str) -> tuple[str, ...]:
    if layout not in ("chexpert", "nih"):
        raise ValueError(f"layout must be 'chexpert' or 'nih', got {layout!r}")
    names = tuple(label_names)
    if not names:
        raise ValueError("label_names must name at least one label")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"label_names repeats {repeated[0]!r}")
    if layout == "nih":
        # "cardiomegaly" would silently never match NIH's "Cardiomegaly": all zeros.
        official = {finding.casefold(): finding for finding in NIH_FINDINGS}
        for name in names:
            spelled = official.get(name.casefold())
            if spelled is not None and spelled != name:
                raise ValueError(f"label name {name!r} must be spelled {spelled!r} as NIH does")
    return names


class _Rows:
    """The data rows of a CSV as dicts, with the line each starts on and header checks."""

    def __init__(self, path: Path) -> None:
        self.path = path
        if not path.is_file():
            raise LabelCsvError(path, "label CSV does not exist")
        with path.open(encoding="utf-8-sig", newline="") as stream:
            self._lines = stream.read().splitlines(keepends=True)
        reader = csv.reader(self._lines)
        header = next(reader, None)
        if not header or not any(cell.strip() for cell in header):
            raise LabelCsvError(path, "is empty; expected a header line and one line per image")
        self.header = [cell.strip() for cell in header]
        repeated = sorted({cell for cell in self.header if self.header.count(cell) > 1})
        if repeated:
            raise LabelCsvError(path, f"line 1: column {repeated[0]!r} appears more than once")

    def require(self, column: str, what: str) -> None:
        if column not in self.header:
            raise LabelCsvError(
                self.path, f"line 1: missing the {what} column {column!r} ({self._columns()})"
            )

    def _columns(self) -> str:
        shown = ", ".join(repr(cell) for cell in self.header[:_MAX_LISTED_COLUMNS])
        more = len(self.header) - _MAX_LISTED_COLUMNS
        return f"the header has {shown}" + (f" and {more} more" if more > 0 else "")

    def __iter__(self) -> Iterator[tuple[int, dict[str, str]]]:
        reader = csv.reader(self._lines)
        next(reader)
        count = 0
        start = reader.line_num + 1
        for cells in reader:
            line, start = start, reader.line_num + 1
            if not any(cell.strip() for cell in cells):
                continue  # blank lines, e.g. a trailing newline left by a spreadsheet
            if len(cells) != len(self.header):
                raise LabelCsvError(
                    self.path,
                    f"line {line}: has {len(cells)} fields, the header has {len(self.header)}",
                )
            count += 1
            yield line, dict(zip(self.header, (cell.strip() for cell in cells), strict=True))
        if count == 0:
            raise LabelCsvError(self.path, "has a header but no data lines")

    def error(self, line: int, column: str, problem: str) -> LabelCsvError:
        return LabelCsvError(self.path, f"line {line}, column {column!r}: {problem}")


def _image(rows: _Rows, line: int, column: str, relative: str, root: Path) -> Path:
    if not relative:
        raise rows.error(line, column, "is empty; expected an image path")
    given = PurePosixPath(relative.replace("\\", "/"))
    path = Path(os.path.normpath(root / given))
    if given.is_absolute() or not path.is_relative_to(root):
        raise rows.error(line, column, f"image path {relative!r} points outside {root}")
    if not path.is_file():
        raise rows.error(line, column, f"image {relative!r} does not exist under {root}")
    return path


def _chexpert(
    rows: _Rows, root: Path, names: tuple[str, ...], uncertain_as: float
) -> Iterator[LabelledImage]:
    rows.require(CHEXPERT_PATH_COLUMN, "image path")
    for name in names:
        rows.require(name, "label")
    patient_column = next((c for c in CHEXPERT_PATIENT_COLUMNS if c in rows.header), None)
    for line, row in rows:
        relative = row[CHEXPERT_PATH_COLUMN]
        path = _image(rows, line, CHEXPERT_PATH_COLUMN, relative, root)
        labels = tuple(_chexpert_label(rows, line, name, row[name], uncertain_as) for name in names)
        yield LabelledImage(path, _chexpert_patient(rows, line, row, patient_column), labels)


def _chexpert_label(rows: _Rows, line: int, column: str, text: str, uncertain_as: float) -> float:
    if not text:
        return _NEGATIVE  # not mentioned in the report
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if value == _UNCERTAIN:
        return uncertain_as
    if value in (_POSITIVE, _NEGATIVE):
        return _POSITIVE if value == _POSITIVE else _NEGATIVE  # "-0" reads as 0.0, not -0.0
    raise rows.error(line, column, f"expected 1, 0, -1 or blank, got {text[:20]!r}")


def _chexpert_patient(rows: _Rows, line: int, row: dict[str, str], column: str | None) -> str:
    parts = PurePosixPath(row[CHEXPERT_PATH_COLUMN].replace("\\", "/")).parts
    folder = next((part for part in parts if _PATIENT_FOLDER.fullmatch(part)), None)
    if folder is not None:
        return folder
    if column is None:
        raise rows.error(
            line,
            CHEXPERT_PATH_COLUMN,
            "path has no patientNNNNN folder and the CSV has no "
            f"{' or '.join(repr(c) for c in CHEXPERT_PATIENT_COLUMNS)} column to tell the patient",
        )
    if not row[column]:
        raise rows.error(line, column, "is empty; expected the patient id")
    return row[column]


def _nih(rows: _Rows, root: Path, names: tuple[str, ...]) -> Iterator[LabelledImage]:
    for column, what in (
        (NIH_IMAGE_COLUMN, "image file"),
        (NIH_FINDINGS_COLUMN, "findings"),
        (NIH_PATIENT_COLUMN, "patient"),
    ):
        rows.require(column, what)
    known = set(NIH_FINDINGS) | set(names)
    index = {name: position for position, name in enumerate(names)}
    for line, row in rows:
        path = _image(rows, line, NIH_IMAGE_COLUMN, row[NIH_IMAGE_COLUMN], root)
        labels = [_NEGATIVE] * len(names)
        for finding in _nih_findings(rows, line, row[NIH_FINDINGS_COLUMN], known):
            if finding in index:
                labels[index[finding]] = _POSITIVE
        patient = row[NIH_PATIENT_COLUMN]
        if not patient:
            raise rows.error(line, NIH_PATIENT_COLUMN, "is empty; expected the patient id")
        yield LabelledImage(path, patient, tuple(labels))


def _nih_findings(rows: _Rows, line: int, text: str, known: set[str]) -> list[str]:
    findings = [part.strip() for part in text.split("|")]
    if findings == [NIH_NO_FINDING]:
        return []
    if not text or "" in findings:
        raise rows.error(
            line,
            NIH_FINDINGS_COLUMN,
            f"expected finding names separated by '|' or {NIH_NO_FINDING!r}",
        )
    if NIH_NO_FINDING in findings:
        raise rows.error(line, NIH_FINDINGS_COLUMN, f"{NIH_NO_FINDING!r} is combined with findings")
    for finding in findings:
        if finding not in known:
            raise rows.error(
                line,
                NIH_FINDINGS_COLUMN,
                f"unknown finding {finding[:40]!r}; known names are {', '.join(sorted(known))}",
            )
    return findings
