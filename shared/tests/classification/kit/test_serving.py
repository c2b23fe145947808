"""The kit's server: one radiograph in, probabilities out; every bad upload its own 4xx."""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydicom.data import get_testdata_file

from medai.classification.onnx_classifier import ClassifierOutput
from medai.classification.serving.app import api_description, app_factory
from medai.classification.serving.model import (
    ClassificationServedModel,
    load_onnx_model,
    model_loaders,
    read_card,
)
from medai.classification.serving.predict import predict_router
from medai.io import RadiographLimits
from medai.serving import BundleError, ModelCard, ServingSettings, create_app, write_bundle

LABELS = ("square", "bar")
CARD = ModelCard(name="shape-cls", version="4", extra={"labels": {"0": "square", "1": "bar"}})


def brightness(pixels: np.ndarray) -> ClassifierOutput:
    """A stand-in model: 'square' is the mean grey level, 'bar' a fixed 0.2."""
    cams = np.zeros((2, 32, 32), np.float32)
    cams[0, :16] = 1.0
    return ClassifierOutput({"square": float(pixels.mean()), "bar": 0.2}, cams)


def png(array: np.ndarray, mode: str | None = None) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array, mode=mode).save(buffer, format="PNG")
    return buffer.getvalue()


def rgb_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((64, 64, 3), 120, np.uint8), "RGB").save(buffer, format="JPEG")
    return buffer.getvalue()


BRIGHT = np.full((48, 48), 204, np.uint8)


@pytest.fixture
def client(demo, test_client, start):
    served = ClassificationServedModel(
        CARD,
        LABELS,
        {"square": 0.5, "bar": 0.5},
        RadiographLimits(min_size=32, max_pixels=128 * 128),
        brightness,
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


def upload(data: bytes, name: str = "image.bin") -> dict[str, tuple[str, bytes]]:
    return {"file": (name, data)}


def test_a_png_gets_probabilities_and_positive_findings(client):
    response = client.post("/v1/predict", files=upload(png(BRIGHT)))

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_name"] == "shape-cls"
    assert body["model_version"] == "4"
    assert body["probabilities"] == {"square": pytest.approx(0.8), "bar": 0.2}
    assert body["positive_findings"] == ["square"]
    assert body["thresholds"] == {"square": 0.5, "bar": 0.5}
    assert body["image"] == {"format": "png", "rows": 48, "columns": 48, "spacing_mm": None}
    assert body["heatmaps"] == []


def test_a_monochrome1_dicom_is_read_bright_side_up(client, make_dicom):
    response = client.post("/v1/predict", files=upload(make_dicom(BRIGHT, monochrome1=True)))

    body = response.json()
    assert body["image"]["format"] == "dicom"
    assert body["image"]["spacing_mm"] == [0.5, 0.5]
    assert body["positive_findings"] == ["square"]  # bright, as the PNG: inverted correctly


def test_heatmaps_come_as_base64_pngs_for_the_labels_asked(client):
    choices = [("heatmap", "bar"), ("heatmap", "positive")]
    response = client.post("/v1/predict", files=upload(png(BRIGHT)), params=choices)

    heatmaps = response.json()["heatmaps"]
    assert [h["label"] for h in heatmaps] == ["square", "bar"]
    image = Image.open(io.BytesIO(base64.b64decode(heatmaps[0]["png_base64"])))
    assert (image.format, image.size) == ("PNG", (32, 32))
    every = client.post("/v1/predict", files=upload(png(BRIGHT)), params={"heatmap": "all"})
    assert len(every.json()["heatmaps"]) == 2


def test_an_unknown_heatmap_label_is_a_422_listing_the_labels(client):
    response = client.post("/v1/predict", files=upload(png(BRIGHT)), params={"heatmap": "circle"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "unknown_label"
    assert "square, bar, positive or all" in error["message"]


BAD_UPLOADS = {
    "random-bytes": (lambda: os.urandom(2048), 415, "unsupported_media_type", "is not a DICOM"),
    "empty": (lambda: b"", 422, "empty_upload", "is empty"),
    "16-bit-png": (
        lambda: png(np.full((48, 48), 4000, np.uint16)),
        422,
        "unsupported_image",
        "16-bit PNG",
    ),
    "rgb-jpeg": (rgb_jpeg, 422, "unsupported_image", "got RGB"),
    "1x1-png": (lambda: png(np.zeros((1, 1), np.uint8)), 422, "unsupported_image", "1 x 1"),
    "ct-slice": (
        lambda: Path(get_testdata_file("CT_small.dcm")).read_bytes(),
        422,
        "not_a_radiograph",
        "Modality CT is not a radiograph",
    ),
    "rt-plan": (
        lambda: Path(get_testdata_file("rtplan.dcm")).read_bytes(),
        422,
        "not_a_radiograph",
        "RT Plan Storage",
    ),
    "too-many-pixels": (
        lambda: png(np.zeros((200, 200), np.uint8)),
        413,
        "too_many_pixels",
        "the limit is 16384",
    ),
}


@pytest.mark.parametrize("case", list(BAD_UPLOADS), ids=list(BAD_UPLOADS))
def test_each_bad_upload_gets_its_status_code_and_reason(client, case):
    make, status, code, reason = BAD_UPLOADS[case]

    response = client.post("/v1/predict", files=upload(make(), name="Doe_Jane.dcm"))

    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"].startswith("file: ")
    assert reason in error["message"]
    assert "Doe_Jane" not in error["message"]
    assert client.get("/health").status_code == 200


def test_a_truncated_dicom_is_a_422_naming_the_problem(client, make_dicom):
    response = client.post("/v1/predict", files=upload(make_dicom(BRIGHT)[:-500]))
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "unreadable_image"
    assert "truncated" in response.json()["error"]["message"]


def test_a_body_over_the_limit_is_a_413(client):
    response = client.post("/v1/predict", files=upload(os.urandom(2 * 1024 * 1024)))
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_a_request_without_the_file_field_is_a_422(client):
    response = client.post("/v1/predict", data={"x": "1"})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_request"


def test_the_route_is_documented_with_its_errors_and_the_modality(client):
    document = client.get("/openapi.json").json()
    operation = document["paths"]["/v1/predict"]["post"]

    assert operation["summary"] == "Classify a shape picture"
    assert {"200", "401", "413", "415", "422", "503"} <= set(operation["responses"])
    parameters = {p["name"]: p for p in operation["parameters"]}
    assert parameters["heatmap"]["schema"]["anyOf"][0]["type"] == "array"
    result = document["components"]["schemas"]["ClassificationResult"]
    assert {"probabilities", "positive_findings", "heatmaps", "image"} <= set(result["properties"])
    assert "HTTPValidationError" not in document["components"]["schemas"]


def card_for(size: int, **extra) -> ModelCard:
    contents = {
        "preprocessing": {"image_size": size, "standardize": False},
        "labels": {"0": "square", "1": "bar"},
        **extra,
    }
    return ModelCard(name="shape-cls", version="2", alias="challenger", extra=contents)


def test_the_card_decides_image_size_labels_and_thresholds(demo):
    settings = demo.load()
    contents = read_card(card_for(48, thresholds={"square": 0.3, "bar": 0.7}), settings)

    assert contents.preprocessing.image_size == 48
    assert contents.labels == LABELS
    assert contents.thresholds == {"square": 0.3, "bar": 0.7}
    assert read_card(card_for(48), settings).thresholds == {"square": 0.5, "bar": 0.5}


def test_a_card_without_labels_or_from_older_code_is_refused(demo):
    settings = demo.load()
    with pytest.raises(BundleError, match=r"^m version 1: its card names no labels"):
        read_card(ModelCard(name="m", version="1"), settings)
    extra = {"labels": {"0": "a"}, "preprocessing": {"patch_size": 3}}
    with pytest.raises(BundleError, match=r"^m version 9: .*patch_size.*train it again"):
        read_card(ModelCard(name="m", version="9", extra=extra), settings)


def test_an_onnx_graph_that_does_not_fit_its_card_is_refused(demo, exported, tmp_path):
    _, onnx_path = exported  # a 32x32 graph
    folder = write_bundle(tmp_path / "bundle", card_for(64), onnx_path).folder
    with pytest.raises(BundleError, match=r"takes 32x32 images, configured image_size is 64"):
        load_onnx_model(folder, demo.load())


def test_every_backend_has_a_loader(demo):
    assert set(model_loaders(demo.project)) == {"onnx", "torch"}


def test_the_app_factory_serves_a_materialized_onnx_model(demo, exported, test_client, start):
    _, onnx_path = exported
    card = card_for(32, thresholds={"square": 0.0, "bar": 1.0})
    model_dir = write_bundle(demo.root / "models" / "shape-cls" / "2", card, onnx_path).folder
    create = app_factory(demo.project, routers=[predict_router(demo.project)])
    app = create({"MEDAI_ENV": "development", "MEDAI__API__MODEL_DIR": str(model_dir)})

    client = start(test_client, app)
    try:
        info = client.get("/v1/model").json()
        response = client.post("/v1/predict", files=upload(png(BRIGHT)), params={"heatmap": "all"})
        document = client.get("/openapi.json").json()
    finally:
        client.__exit__(None, None, None)

    assert (info["name"], info["version"], info["alias"]) == ("shape-cls", "2", "challenger")
    body = response.json()
    assert body["positive_findings"] == ["square"]  # thresholds 0 and 1 from the card
    expected = load_onnx_model(model_dir, demo.load()).predict(BRIGHT / np.float32(255))
    assert body["probabilities"] == pytest.approx(expected.probabilities, abs=1e-6)
    assert len(body["heatmaps"]) == 2
    assert document["info"]["title"] == "shape-cls inference"
    assert document["info"]["description"] == api_description(demo.project)
    assert "- `square`: a bright square" in document["info"]["description"]


def test_the_app_factory_without_a_model_folder_exits_with_one_line(demo):
    create = app_factory(demo.project, routers=[predict_router(demo.project)])
    with pytest.raises(SystemExit, match=r"^error: api.model_dir: not set: .*--project=shape-cls"):
        create({"MEDAI_ENV": "development"})
