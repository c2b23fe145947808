"""Non-finite or absurd radiograph header values through every classification entry point.

A NaN RescaleSlope used to reach ``Radiograph``'s own invariant as a plain ValueError: a 500
from the server and a traceback from ``predict``. Now the server answers 422 JSON naming
the attribute, ``predict`` exits 2 with one line, and dataset items raise the reader's error.
"""

from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest

from medai.classification.cli import project_commands
from medai.classification.data import RadiographItem
from medai.classification.onnx_classifier import ClassifierOutput
from medai.classification.serving.model import ClassificationServedModel
from medai.classification.serving.predict import predict_router
from medai.hostile import put_raw
from medai.io import InvalidGeometryError, InvalidHeaderValueError, RadiographLimits
from medai.serving import ModelCard, ServingSettings, create_app

CARD = ModelCard(name="shape-cls", version="4", extra={"labels": {"0": "square", "1": "bar"}})
GREY = np.full((48, 48), 120, np.uint8)
SLOPE_NAN = "RescaleSlope is nan; expected a finite non-zero number with 1e-09 <= |value| <= 1e+06"
WINDOW_NAN = (
    "WindowCenter/WindowWidth is nan/400; expected a finite centre with |value| <= 1e+12 "
    "and a width between 1 and 1e+12 (LINEAR)"
)
SPACING_ZERO = (
    "PixelSpacing is [0, 0.5]; expected two positive finite numbers (mm) between 0.0001 and 1e+32"
)


def with_raw(data: bytes, **raw: str) -> bytes:
    """The DICOM file with header values stored as given, unvalidated, as a hostile sender."""
    dataset = pydicom.dcmread(io.BytesIO(data))
    for keyword, text in raw.items():
        put_raw(dataset, keyword, text)
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


CASES = {
    "rescale-slope-nan": ({"RescaleSlope": "nan", "RescaleIntercept": "0"}, SLOPE_NAN),
    "window-center-nan": ({"WindowCenter": "nan", "WindowWidth": "400"}, WINDOW_NAN),
    "pixel-spacing-zero": ({"PixelSpacing": "0\\0.5"}, SPACING_ZERO),
}


@pytest.fixture
def client(demo, test_client, start):
    served = ClassificationServedModel(
        CARD,
        ("square", "bar"),
        {"square": 0.5, "bar": 0.5},
        RadiographLimits(min_size=32, max_pixels=128 * 128),
        lambda pixels: ClassifierOutput(
            {"square": float(pixels.mean()), "bar": 0.2}, np.zeros((2, 32, 32), np.float32)
        ),
    )
    app = create_app(
        title="shapes",
        version="1",
        settings=ServingSettings(max_body_mb=1),
        load_model=lambda: served,
        routers=[predict_router(demo.project)],
    )
    client = start(test_client, app)
    yield client
    client.__exit__(None, None, None)


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_the_server_answers_a_422_naming_the_value(client, make_dicom, case):
    raw, reason = CASES[case]

    response = client.post(
        "/v1/predict", files={"file": ("Doe_Jane.dcm", with_raw(make_dicom(GREY), **raw))}
    )

    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "unreadable_image"
    assert error["message"] == f"file: {reason}"
    assert "Doe" not in response.text
    assert client.get("/health").status_code == 200


def test_the_same_file_with_sound_values_is_classified(client, make_dicom):
    """The control: the refusals above come from the bad values, not from the rewriting."""
    data = with_raw(make_dicom(GREY), RescaleSlope="1", RescaleIntercept="0")
    response = client.post("/v1/predict", files={"file": ("x.dcm", data)})
    assert response.status_code == 200, response.text


@pytest.fixture
def commands(demo):
    return project_commands(demo.project, "shape_cls.api.main:create_app")


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_predict_refuses_in_one_line_with_exit_2(commands, make_dicom, tmp_path, capsys, case):
    raw, reason = CASES[case]
    image = tmp_path / "xray.dcm"
    image.write_bytes(with_raw(make_dicom(GREY), **raw))

    assert commands.predict([str(image), str(tmp_path / "out.json")]) == 2

    assert capsys.readouterr().err == f"error: {image}: {reason}\n"
    assert not (tmp_path / "out.json").exists()


def test_a_dataset_item_with_a_nan_slope_raises_the_readers_error(make_dicom, tmp_path):
    image = tmp_path / "study1.dcm"
    image.write_bytes(with_raw(make_dicom(GREY), RescaleSlope="nan", RescaleIntercept="0"))
    item = RadiographItem("study1.dcm", (1.0, 0.0), path=image)

    with pytest.raises(InvalidHeaderValueError) as caught:
        item.read(RadiographLimits())

    assert str(caught.value) == f"{image}: {SLOPE_NAN}"


def test_a_dataset_item_with_zero_spacing_raises_an_invalid_geometry(make_dicom, tmp_path):
    image = tmp_path / "study1.dcm"
    image.write_bytes(with_raw(make_dicom(GREY), PixelSpacing="0\\0.5"))

    with pytest.raises(InvalidGeometryError):
        RadiographItem("study1.dcm", (1.0, 0.0), path=image).read(RadiographLimits())
