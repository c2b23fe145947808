"""The real server (uvicorn subprocess, ONNX backend) with real radiographs and bad ones."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
from pathlib import Path

import httpx
import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file

from cxr_cls.data.synthetic import FINDINGS
from cxr_cls.testing import dicom_files
from medai.classification.testing import imported_packages
from medai.io import read_radiograph
from medai.testing import schemathesis_argv

pytestmark = pytest.mark.integration

PHI_STRINGS = ("Doe^Jane", "PHI-123456", "Doe_Jane")
TRAINING_STACK = {"torch", "monai", "mlflow", "matplotlib", "sklearn"}


@pytest.fixture
def predict(running_server, api_key):
    """``predict(data, name=, key=, params=)``: POST one file to ``/v1/predict``."""

    def send(data: bytes, *, name="image", key=api_key, params=None) -> httpx.Response:
        return httpx.post(
            f"{running_server.url}/v1/predict",
            files={"file": (name, data)},
            headers={"X-API-Key": key} if key else {},
            params=params,
            timeout=60,
        )

    return send


@pytest.fixture
def get(running_server, api_key):
    """``get(path, key=)``: GET a route of the server with the API key (or another)."""

    def send(path: str, *, key=api_key) -> httpx.Response:
        headers = {"X-API-Key": key} if key else {}
        return httpx.get(f"{running_server.url}{path}", headers=headers, timeout=10)

    return send


def error_of(response: httpx.Response, status: int, code: str) -> dict:
    """The error body, after checking it is the one schema with this status and code."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert (error["status"], error["code"]) == (status, code)
    assert error["message"]
    assert error["request_id"] == response.headers["x-request-id"]
    return error


def healthy(server) -> bool:
    """The process runs and answers its liveness probe."""
    return server.alive and httpx.get(f"{server.url}/health", timeout=5).status_code == 200


def classified(response: httpx.Response, source_format: str) -> dict:
    """The answer, after checking it holds a probability per finding for this format."""
    assert response.status_code == 200, response.text
    body = response.json()
    assert list(body["probabilities"]) == list(FINDINGS)
    assert all(0.0 <= p <= 1.0 for p in body["probabilities"].values())
    assert set(body["positive_findings"]) <= set(FINDINGS)
    assert body["image"]["format"] == source_format
    return body


def encoded(image: Image.Image, kind: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=kind)
    return buffer.getvalue()


def test_only_health_and_ready_are_open(get, predict):
    assert get("/health", key=None).status_code == 200
    assert get("/ready", key=None).json()["status"] == "ready"
    for path in ("/v1/model", "/metrics", "/openapi.json", "/docs"):
        error_of(get(path, key=None), 401, "unauthorized")
        error_of(get(path, key="wrong-" + "y" * 20), 401, "unauthorized")
    error_of(predict(b"x", key=None), 401, "unauthorized")


def test_model_info_names_version_alias_and_lineage(get, trained_model):
    info = get("/v1/model").json()
    # The session model is challenger, and champion too once the template's gate checks ran.
    assert (info["name"], info["alias"] in {"champion", "challenger"}) == ("cxr-cls", True)
    assert info["version"] == trained_model.result.model_version
    assert info["run_id"] == trained_model.result.run_id
    assert info["tags"]["medai.kind"] == "classification"
    assert info["signature"]["inputs"][0]["tensor-spec"]["shape"] == [-1, 1, 32, 32]


def test_a_synthetic_png_is_classified(predict, trained_model):
    png = min(trained_model.raw.rglob("*.png"))
    classified(predict(png.read_bytes(), name=png.name), "png")


def test_dicom_dx_in_both_photometric_interpretations_is_classified(
    running_server, predict, trained_model
):
    for photometric in ("MONOCHROME2", "MONOCHROME1"):
        dicom = dicom_files(trained_model.raw, photometric)[0]
        body = classified(predict(dicom.read_bytes()), "dicom")
        assert body["image"]["spacing_mm"][0] > 0
    assert healthy(running_server)


def test_the_same_image_as_dicom_and_as_png_gets_the_same_answer(predict, trained_model):
    dicom = min(trained_model.raw.rglob("*.dcm"))
    grey = np.rint(read_radiograph(dicom).pixels * 255).astype(np.uint8)
    a = classified(predict(dicom.read_bytes()), "dicom")["probabilities"]
    b = classified(predict(encoded(Image.fromarray(grey), "PNG")), "png")["probabilities"]
    for finding in FINDINGS:
        assert a[finding] == pytest.approx(b[finding], abs=0.02)


def test_heatmaps_are_returned_as_base64_pngs(predict, trained_model):
    png = min(trained_model.raw.rglob("*.png")).read_bytes()
    body = classified(predict(png, params={"heatmap": "all"}), "png")
    assert [h["label"] for h in body["heatmaps"]] == list(FINDINGS)
    image = Image.open(io.BytesIO(base64.b64decode(body["heatmaps"][0]["png_base64"])))
    assert (image.format, image.size, image.mode) == ("PNG", (32, 32), "RGB")
    error = error_of(predict(png, params={"heatmap": "fracture"}), 422, "unknown_label")
    assert "cardiomegaly, effusion, nodule, pneumothorax" in error["message"]


def sixteen_bit_png() -> bytes:
    return encoded(Image.fromarray(np.full((64, 64), 3000, np.uint16)), "PNG")


def rgb_jpeg() -> bytes:
    return encoded(Image.fromarray(np.full((64, 64, 3), 128, np.uint8), "RGB"), "JPEG")


def tiny_png() -> bytes:
    return encoded(Image.fromarray(np.zeros((1, 1), np.uint8)), "PNG")


def huge_png() -> bytes:
    # 1100 x 1100 = 1.21 M pixels, over the server's 1 M; compresses to a few KB.
    return encoded(Image.fromarray(np.zeros((1100, 1100), np.uint8)), "PNG")


def packaged(name: str) -> bytes:
    return Path(get_testdata_file(name)).read_bytes()


BAD_UPLOADS = {
    "ct-slice": (lambda: packaged("CT_small.dcm"), 422, "not_a_radiograph", "Modality CT is"),
    "rt-plan-dicom": (lambda: packaged("rtplan.dcm"), 422, "not_a_radiograph", "has no image"),
    "ecg-dicom": (lambda: packaged("waveform_ecg.dcm"), 422, "not_a_radiograph", "Waveform"),
    "16-bit-png": (sixteen_bit_png, 422, "unsupported_image", "16-bit PNG"),
    "rgb-jpeg": (rgb_jpeg, 422, "unsupported_image", "got RGB"),
    "1x1-png": (tiny_png, 422, "unsupported_image", "1 x 1 pixels"),
    "too-many-pixels": (huge_png, 413, "too_many_pixels", "the limit is 1048576"),
    "random-bytes": (lambda: os.urandom(4096), 415, "unsupported_media_type", "is not a DICOM"),
    "empty-file": (lambda: b"", 422, "empty_upload", "is empty"),
}


@pytest.mark.parametrize("case", list(BAD_UPLOADS), ids=list(BAD_UPLOADS))
def test_bad_upload_gets_its_4xx_and_the_server_keeps_serving(running_server, predict, case):
    make, status, code, reason = BAD_UPLOADS[case]
    error = error_of(predict(make(), name="Doe_Jane.dcm"), status, code)
    assert reason in error["message"]
    assert "Doe_Jane" not in error["message"]
    assert healthy(running_server)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [(b"x=1", "application/x-www-form-urlencoded"), (b"", "multipart/form-data")],
    ids=["no-file-field", "empty-body"],
)
def test_a_request_without_a_file_is_a_4xx(running_server, api_key, body, content_type):
    response = httpx.post(
        f"{running_server.url}/v1/predict",
        headers={"X-API-Key": api_key, "Content-Type": content_type},
        content=body,
    )
    assert response.status_code in {400, 422}, response.text
    assert response.json()["error"]["code"] in {"invalid_request", "bad_request"}
    assert healthy(running_server)


def test_oversized_body_is_refused_with_413(running_server, predict):
    big = os.urandom(5 * 1024 * 1024)  # the server's limit is 4 MB
    error_of(predict(big), 413, "payload_too_large")
    assert healthy(running_server)


def test_patient_name_and_id_never_reach_the_logs(
    running_server, predict, trained_model, add_phi, tmp_path
):
    source = min(trained_model.raw.rglob("*.dcm"))
    dicom = add_phi(source, tmp_path / "Doe_Jane_PHI-123456.dcm")
    assert pydicom.dcmread(dicom).PatientName == "Doe^Jane"

    answered = predict(dicom.read_bytes(), name=dicom.name, params={"heatmap": "positive"})
    classified(answered, "dicom")
    broken = dicom.read_bytes()[:700]  # a header with the names, cut before the pixels
    refused = predict(broken, name=dicom.name, params={"heatmap": "all"})
    assert refused.status_code == 422

    log = running_server.log_text()
    access = [json.loads(line) for line in log.splitlines() if line.startswith('{"request_id"')]
    assert any(entry["route"] == "/v1/predict" and entry["status"] == 200 for entry in access)
    for secret in PHI_STRINGS:
        assert secret not in log
        assert secret not in answered.text
        assert secret not in refused.text


def test_metrics_count_predictions(get):
    assert 'handler="/v1/predict"' in get("/metrics").text


def test_the_onnx_server_never_imports_the_training_stack(running_server, predict, trained_model):
    png = min(trained_model.raw.rglob("*.png"))
    classified(predict(png.read_bytes(), params={"heatmap": "all"}), "png")

    imported = imported_packages(running_server.log_text())  # -X importtime, whole lifetime

    assert {"onnxruntime", "fastapi", "pydicom"} <= imported  # the trace sees the server
    assert imported & TRAINING_STACK == set()


def test_schemathesis_finds_no_server_error_or_schema_violation(running_server, api_key, tmp_path):
    argv = schemathesis_argv(f"{running_server.url}/openapi.json", api_key, max_examples=40)
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=600, check=False, cwd=tmp_path
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    assert healthy(running_server)
