"""Which DICOM inputs a project accepts: modality, image type, body part, from the header."""

import io
import shutil
import warnings
import zipfile
from pathlib import Path

import pydicom
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset

from medai.config import InputSettings
from medai.io import (
    DicomAcceptance,
    InputNotAcceptedError,
    RadiographLimits,
    read_dicom_series,
    read_radiograph,
    read_volume,
)
from medai.serving.uploads import UploadError, UploadLimits, UploadPart, read_volume_upload

CT_SMALL = Path(get_testdata_file("CT_small.dcm"))
MR_SMALL = Path(get_testdata_file("MR_small.dcm"))
CT_ONLY = DicomAcceptance(modalities=("CT",))
LIMITS = UploadLimits(max_bytes=64 << 20, max_voxels=1 << 24)

CODE = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_", min_size=1, max_size=16)


def _header(**values):
    """A dataset with these values, hostile ones included (pydicom warns about those)."""
    header = Dataset()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for keyword, value in values.items():
            setattr(header, keyword, value)
    return header


def _series_with(tmp_path, **values):
    folder = tmp_path / "series"
    folder.mkdir()
    dataset = pydicom.dcmread(CT_SMALL)
    for keyword, value in values.items():
        setattr(dataset, keyword, value)
    dataset.save_as(folder / "slice.dcm")
    return folder


@pytest.mark.parametrize(
    ("acceptance", "header", "expected"),
    [
        (CT_ONLY, _header(Modality="CT"), None),
        (CT_ONLY, _header(Modality="ct "), None),  # CS values compare upper-case, stripped
        (CT_ONLY, _header(Modality="MR"), "has Modality MR; this project accepts CT"),
        (CT_ONLY, _header(), "has no Modality; this project accepts CT"),
        (CT_ONLY, _header(Modality=""), "has no Modality; this project accepts CT"),
        (DicomAcceptance(), _header(Modality="MR"), None),  # no modalities: any
        (
            CT_ONLY,
            _header(Modality="CT", ImageType=["ORIGINAL", "PRIMARY", "LOCALIZER"]),
            "has ImageType LOCALIZER, which this project refuses (refused: LOCALIZER)",
        ),
        (CT_ONLY, _header(Modality="CT", ImageType=["ORIGINAL", "PRIMARY", "AXIAL"]), None),
        (
            DicomAcceptance(modalities=("DX",), body_parts=("CHEST",)),
            _header(Modality="DX", BodyPartExamined="KNEE"),
            "has BodyPartExamined KNEE; this project accepts CHEST",
        ),
        (
            DicomAcceptance(modalities=("DX",), body_parts=("CHEST",)),
            _header(Modality="DX"),  # absent: accepted, most archives leave it out
            None,
        ),
    ],
)
def test_acceptance_problem_names_what_was_sent_and_what_is_accepted(acceptance, header, expected):
    assert acceptance.problem(header) == expected


def test_acceptance_never_echoes_long_or_unprintable_header_text():
    header = _header(Modality="X\x00" + "A" * 60)
    problem = CT_ONLY.problem(header)
    assert problem is not None
    assert "\x00" not in problem
    assert "A" * 17 not in problem


@settings(max_examples=150, deadline=None)
@given(accepted=st.lists(CODE, min_size=1, max_size=4), sent=CODE)
def test_a_modality_is_accepted_exactly_when_it_is_listed(accepted, sent):
    acceptance = DicomAcceptance(modalities=tuple(accepted))
    problem = acceptance.problem(_header(Modality=sent))
    assert (problem is None) == (sent in accepted)
    if problem is not None:
        assert all(code in problem for code in accepted)


@settings(max_examples=150, deadline=None)
@given(image_type=st.lists(CODE, min_size=1, max_size=5))
def test_an_image_type_is_refused_exactly_when_one_of_its_values_is_refused(image_type):
    problem = CT_ONLY.problem(_header(Modality="CT", ImageType=image_type))
    assert (problem is None) == ("LOCALIZER" not in image_type)


def test_read_dicom_series_refuses_an_mr_series_before_decoding_pixels(tmp_path, monkeypatch):
    folder = tmp_path / "mr"
    folder.mkdir()
    shutil.copy(MR_SMALL, folder / "IM0001")
    decoded = []
    monkeypatch.setattr("medai.io.dicom._read_pixels", lambda *args: decoded.append(args) or None)
    with pytest.raises(InputNotAcceptedError, match="has Modality MR; this project accepts CT"):
        read_dicom_series(folder, accept=CT_ONLY)
    assert decoded == []


def test_read_dicom_series_without_accept_reads_any_modality(tmp_path):
    folder = tmp_path / "mr"
    folder.mkdir()
    shutil.copy(MR_SMALL, folder / "IM0001")
    assert read_dicom_series(folder).shape[:2] == (64, 64)


def test_read_volume_refuses_a_ct_localizer(tmp_path):
    folder = _series_with(tmp_path, ImageType=["ORIGINAL", "PRIMARY", "LOCALIZER"])
    with pytest.raises(InputNotAcceptedError, match="ImageType LOCALIZER"):
        read_volume(folder, accept=CT_ONLY)


def test_upload_of_an_mr_slice_is_a_422_naming_sent_and_accepted_modalities():
    part = UploadPart(filename="Doe^Jane.dcm", data=MR_SMALL.read_bytes())
    with pytest.raises(UploadError) as excinfo:
        read_volume_upload([part], LIMITS, CT_ONLY)
    assert excinfo.value.status == 422
    assert excinfo.value.code == "input_not_accepted"
    assert excinfo.value.message == (
        "DICOM upload: part 1 has Modality MR; this project accepts CT"
    )


def test_upload_of_a_zipped_mr_series_is_refused_too():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("Doe^Jane/IM0001.dcm", MR_SMALL.read_bytes())
    part = UploadPart(filename="series.zip", data=buffer.getvalue())
    with pytest.raises(UploadError) as excinfo:
        read_volume_upload([part], LIMITS, CT_ONLY)
    assert excinfo.value.code == "input_not_accepted"
    assert "entry 1" in excinfo.value.message
    assert "Doe" not in excinfo.value.message


def test_upload_of_a_ct_slice_is_accepted():
    part = UploadPart(filename=None, data=CT_SMALL.read_bytes())
    assert read_volume_upload([part], LIMITS, CT_ONLY).shape == (128, 128, 1)


def _radiograph_bytes(**values):
    dataset = pydicom.dcmread(CT_SMALL)
    dataset.Modality = "DX"
    for keyword, value in values.items():
        setattr(dataset, keyword, value)
    buffer = io.BytesIO()
    dataset.save_as(buffer)
    return buffer.getvalue()


def test_read_radiograph_refuses_another_body_part():
    limits = RadiographLimits(allowed_body_parts=("CHEST",))
    with pytest.raises(InputNotAcceptedError, match="BodyPartExamined KNEE; this project"):
        read_radiograph(_radiograph_bytes(BodyPartExamined="KNEE"), name="file", limits=limits)
    accepted = read_radiograph(
        _radiograph_bytes(BodyPartExamined="CHEST"), name="file", limits=limits
    )
    assert accepted.shape == (128, 128)


def test_input_settings_refuse_values_that_are_not_dicom_code_strings():
    with pytest.raises(ValidationError, match=r"allowed_modalities: 'C\.T' is not a DICOM code"):
        InputSettings(allowed_modalities=("C.T",))
    assert InputSettings(allowed_modalities=("ct",)).acceptance().modalities == ("CT",)
