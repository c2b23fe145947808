"""Degenerate geometry and non-finite header values through every segmentation entry point.

The server answers 422 JSON naming the attribute, ``predict`` exits 2 with one line, and
dataset loading (training and evaluation read through ``LoadCased`` and ``read_nifti``)
raises the reader's error: never a 500, a traceback or a NaN volume.
"""

from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from medai.hostile import put_raw, raw_nifti
from medai.io import InvalidGeometryError, InvalidHeaderValueError, write_nifti
from medai.segmentation.cli import project_commands
from medai.segmentation.serving.model import SegmentationServedModel, labels_of
from medai.segmentation.serving.predict import predict_router
from medai.segmentation.transforms import IMAGE, LABEL, LoadCased
from medai.serving import ModelCard, ServingSettings, create_app
from medai.testing import start_test_client

CARD = ModelCard(name="sphere-seg", version="4", extra={"labels": {"0": "background", "1": "x"}})
PHI = "Doe^Jane"


SFORM_NAN = raw_nifti(compress=True, srow_x=[np.nan, 0, 0, 0])
PIXDIM_ZERO = raw_nifti(compress=True, sform_code=0, pixdim=[1, 0.0, 1.5, 1.5, 1, 1, 1, 1])


def dicom_slice(z: float, **raw: str) -> bytes:
    """An 8x8 CT slice at height z carrying a patient name, with raw header values."""
    dataset = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    dataset.PatientName = PHI
    dataset.SeriesInstanceUID = "1.2.826.0.1.3680043.8.498.43"
    dataset.Rows = dataset.Columns = 8
    dataset.PixelData = np.full((8, 8), 1024, np.int16).tobytes()
    dataset.ImagePositionPatient = [0, 0, z]
    dataset.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    for keyword, text in raw.items():
        put_raw(dataset, keyword, text)
    buffer = io.BytesIO()
    dataset.save_as(buffer)
    return buffer.getvalue()


@pytest.fixture
def client(demo, test_client):
    served = SegmentationServedModel(
        CARD, labels_of(CARD), lambda volume: (volume.array > 0).astype(np.uint8)
    )
    app = create_app(
        title="spheres",
        version="1",
        settings=ServingSettings(),
        load_model=lambda: served,
        routers=[predict_router(demo.project)],
    )
    client = start_test_client(test_client, app)
    yield client
    client.__exit__(None, None, None)


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ([SFORM_NAN], "part 1: sform holds NaN"),
        (
            [PIXDIM_ZERO],
            (
                "part 1: pixdim[1:4] is [0, 1.5, 1.5]; expected three positive finite numbers (mm) "
                "between 0.0001 and 1e+32"
            ),
        ),
        (
            [dicom_slice(0), dicom_slice(2, PixelSpacing="0\\0.5")],
            (
                "DICOM upload: part 2: PixelSpacing is [0, 0.5]; expected two positive finite "
                "numbers (mm) between 0.0001 and 1e+32"
            ),
        ),
        (
            [dicom_slice(0, RescaleSlope="nan"), dicom_slice(2)],
            (
                "DICOM upload: part 1: RescaleSlope is nan; expected a finite non-zero number with "
                "1e-09 <= |value| <= 1e+06"
            ),
        ),
        (
            [dicom_slice(0, ImageOrientationPatient="1\\0\\0\\1\\0\\0"), dicom_slice(2)],
            (
                "DICOM upload: part 1: ImageOrientationPatient is [1, 0, 0, 1, 0, 0]; expected "
                "six finite numbers: two orthogonal unit vectors (row, then column direction), "
                "but they are not orthogonal (the cosine of their angle is 1)"
            ),
        ),
    ],
    ids=["sform-nan", "pixdim-zero", "pixel-spacing-zero", "rescale-slope-nan", "parallel-axes"],
)
def test_the_server_answers_degenerate_inputs_with_a_422_naming_the_value(client, files, message):
    uploads = [("file", (f"{PHI}_{index}.bin", data)) for index, data in enumerate(files)]

    response = client.post("/v1/predict", files=uploads)

    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "unreadable_image"
    assert error["message"] == message
    assert PHI not in response.text
    assert client.get("/health").status_code == 200


@pytest.fixture
def commands(demo, tmp_path, monkeypatch):
    monkeypatch.delenv("MEDAI_ENV", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'guard.db'}")
    return project_commands(demo.project, "sphere_seg.api.main:create_app")


def test_predict_refuses_a_degenerate_nifti_in_one_line_before_loading_a_model(
    commands, tmp_path, capsys
):
    source = tmp_path / "scan.nii.gz"
    source.write_bytes(PIXDIM_ZERO)
    output = tmp_path / "out" / "mask.nii.gz"

    assert commands.predict([str(source), str(output)]) == 2

    err = capsys.readouterr().err
    assert err == (
        f"error: {source}: pixdim[1:4] is [0, 1.5, 1.5]; expected three positive finite "
        "numbers (mm) between 0.0001 and 1e+32\n"
    )
    assert not output.parent.exists()


def test_predict_refuses_a_dicom_series_with_a_nan_slope_in_one_line(commands, tmp_path, capsys):
    series = tmp_path / "series"
    series.mkdir()
    (series / "a.dcm").write_bytes(dicom_slice(0, RescaleSlope="nan"))
    (series / "b.dcm").write_bytes(dicom_slice(2))

    assert commands.predict([str(series), str(tmp_path / "mask.nii.gz")]) == 2

    err = capsys.readouterr().err
    assert err.startswith(f"error: {series}: file a.dcm: RescaleSlope is nan; expected ")
    assert err.count("\n") == 1
    assert PHI not in err


def test_dataset_loading_refuses_a_degenerate_image_naming_the_file(tmp_path):
    image = tmp_path / "case_1.nii.gz"
    image.write_bytes(SFORM_NAN)
    label = write_nifti(tmp_path / "label_1.nii.gz", np.zeros((8, 8, 8), np.uint8), np.eye(4))

    with pytest.raises(InvalidGeometryError) as caught:
        LoadCased([0, 1])({IMAGE: str(image), LABEL: str(label)})

    assert str(caught.value) == f"{image}: sform holds NaN"


def test_dataset_loading_refuses_an_infinite_scl_slope(tmp_path):
    image = tmp_path / "case_1.nii.gz"
    image.write_bytes(raw_nifti(compress=True, scl_slope=np.inf))

    with pytest.raises(InvalidHeaderValueError, match=r"scl_slope is inf"):
        LoadCased([0, 1])({IMAGE: str(image)})


def test_the_same_file_with_a_sound_header_is_segmented(client):
    """The control: the refusals above come from the bad value, not from the builder."""
    response = client.post("/v1/predict", files={"file": ("scan.nii.gz", raw_nifti(compress=True))})
    assert response.status_code == 200, response.text
