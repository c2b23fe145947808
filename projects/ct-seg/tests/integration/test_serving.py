"""The real inference server (uvicorn subprocess, ONNX backend) with real files and bad ones."""

from __future__ import annotations

import gzip
import io
import json
import os
import socket
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import httpx
import nibabel as nib
import numpy as np
import pydicom
import pytest
from nibabel.testing import data_path
from pydicom.data import get_testdata_file

from medai.io import read_dicom_series, read_nifti

pytestmark = pytest.mark.integration

PHI_STRINGS = ("Doe^Jane", "PHI-123456", "Doe_Jane")


def post(server, files, *, key: str | None = "valid", params=None) -> httpx.Response:
    headers = (
        {"X-API-Key": server.api_key} if key == "valid" else ({"X-API-Key": key} if key else {})
    )
    return httpx.post(
        f"{server.url}/v1/predict", files=files, headers=headers, params=params, timeout=120
    )


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["status"] == status
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert body["error"]["request_id"] == response.headers["x-request-id"]


def assert_still_serving(server) -> None:
    assert httpx.get(f"{server.url}/health", timeout=5).status_code == 200
    assert server.process.poll() is None
    left = frozenset(server.temp_dir.iterdir()) - server.temp_baseline
    assert not left, f"a request left temporary files behind: {sorted(left)}"


def nifti_mask(response: httpx.Response) -> nib.Nifti1Image:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/gzip"
    return nib.Nifti1Image.from_bytes(gzip.decompress(response.content))


def test_only_health_and_ready_are_open(running_server):
    url = running_server.url
    assert httpx.get(f"{url}/health").status_code == 200
    assert httpx.get(f"{url}/ready").json()["status"] == "ready"
    for path in ("/v1/model", "/metrics", "/openapi.json", "/docs"):
        assert_error(httpx.get(f"{url}{path}"), 401, "unauthorized")
        assert_error(
            httpx.get(f"{url}{path}", headers={"X-API-Key": "wrong-" + "y" * 20}),
            401,
            "unauthorized",
        )
    bearer = {"Authorization": f"Bearer {running_server.api_key}"}
    assert httpx.get(f"{url}/v1/model", headers=bearer).status_code == 200
    assert_error(post(running_server, {"file": ("x.nii", b"x")}, key=None), 401, "unauthorized")


def test_model_info_names_version_alias_and_lineage(running_server, trained_model):
    info = httpx.get(
        f"{running_server.url}/v1/model", headers={"X-API-Key": running_server.api_key}
    ).json()
    assert info["name"] == "ct-seg"
    assert info["version"] == trained_model.result.model_version
    # The session model is challenger, and champion too once the template's gate checks ran.
    assert info["alias"] in {"champion", "challenger"}
    assert info["run_id"] == trained_model.result.run_id
    assert info["tags"]["medai.git_commit"]
    assert info["signature"]["inputs"][0]["tensor-spec"]["shape"] == [-1, 1, -1, -1, -1]


def test_predict_packaged_nifti_returns_mask_on_the_input_grid(running_server):
    source = Path(data_path) / "anatomical.nii"
    response = post(running_server, {"file": ("anatomical.nii", source.read_bytes())})
    mask = nifti_mask(response)
    expected = read_nifti(source)
    assert mask.shape == expected.shape
    np.testing.assert_allclose(mask.affine, expected.affine, atol=1e-4)
    assert response.headers["x-model-version"]
    assert_still_serving(running_server)


def test_predict_synthetic_ct_as_json_summary(running_server, trained_model):
    image = min(
        (next((trained_model.root / "data" / "raw").iterdir()) / "imagesTr").glob("*.nii.gz")
    )
    response = post(
        running_server, {"file": ("scan.nii.gz", image.read_bytes())}, params={"format": "json"}
    )
    assert response.status_code == 200, response.text
    summary = response.json()
    assert summary["model_name"] == "ct-seg"
    assert tuple(summary["shape"]) == read_nifti(image).shape
    assert [s["name"] for s in summary["structures"]] == ["organ", "lesion"]
    for structure in summary["structures"]:
        assert structure["volume_ml"] == pytest.approx(
            structure["voxels"] * 1.5**3 / 1000, rel=1e-3
        )


def test_predict_dicom_series_as_zip_and_as_parts(running_server, dicom_series):
    expected = read_dicom_series(dicom_series)
    slices = sorted(dicom_series.glob("*.dcm"))
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        for path in slices:
            bundle.write(path, arcname=f"series/{path.name}")
    as_zip = nifti_mask(post(running_server, {"file": ("Doe_Jane.zip", archive.getvalue())}))
    as_parts = nifti_mask(
        post(
            running_server,
            [("file", (f"Doe_Jane_{i}.dcm", p.read_bytes())) for i, p in enumerate(slices)],
        )
    )
    for mask in (as_zip, as_parts):
        assert mask.shape == expected.shape
        np.testing.assert_allclose(mask.affine, expected.affine, atol=1e-4)
    np.testing.assert_array_equal(np.asarray(as_zip.dataobj), np.asarray(as_parts.dataobj))
    assert_still_serving(running_server)


def test_predict_packaged_single_ct_slice(running_server):
    response = post(
        running_server,
        {"file": ("CT_small.dcm", Path(get_testdata_file("CT_small.dcm")).read_bytes())},
    )
    assert nifti_mask(response).shape == (128, 128, 1)


def truncated_gz(trained_model) -> bytes:
    image = min(
        (next((trained_model.root / "data" / "raw").iterdir()) / "imagesTr").glob("*.nii.gz")
    )
    data = image.read_bytes()
    return data[: len(data) // 2]


BAD_UPLOADS = {
    "random-bytes": (lambda _: os.urandom(4096), 415, "unsupported_media_type"),
    "empty-file": (lambda _: b"", 422, "empty_upload"),
    "truncated-nii-gz": (truncated_gz, 422, "unreadable_image"),
    "4d-nifti": (
        lambda _: (Path(data_path) / "example4d.nii.gz").read_bytes(),
        422,
        "invalid_dimensions",
    ),
    "waveform-dicom": (
        lambda _: Path(get_testdata_file("waveform_ecg.dcm")).read_bytes(),
        422,
        "unreadable_image",
    ),
}


@pytest.mark.parametrize("case", list(BAD_UPLOADS), ids=list(BAD_UPLOADS))
def test_bad_upload_gets_its_4xx_and_the_server_keeps_serving(running_server, trained_model, case):
    make, status, code = BAD_UPLOADS[case]
    assert_error(post(running_server, {"file": ("upload.bin", make(trained_model))}), status, code)
    assert_still_serving(running_server)


def test_request_without_file_field_is_a_422(running_server):
    response = httpx.post(
        f"{running_server.url}/v1/predict",
        headers={"X-API-Key": running_server.api_key},
        data={"x": "1"},
    )
    assert_error(response, 422, "invalid_request")
    assert_still_serving(running_server)


def test_oversized_body_is_refused_with_413(running_server):
    big = os.urandom(9 * 1024 * 1024)  # the server's limit is 8 MB
    assert_error(post(running_server, {"file": ("big.nii", big)}), 413, "payload_too_large")
    assert_still_serving(running_server)


def test_patient_name_and_id_never_reach_the_logs(running_server, dicom_series):
    slices = sorted(dicom_series.glob("*.dcm"))
    assert pydicom.dcmread(slices[0]).PatientName == "Doe^Jane"
    response = post(
        running_server,
        [("file", (f"Doe_Jane_PHI-123456_{i}.dcm", p.read_bytes())) for i, p in enumerate(slices)],
    )
    assert response.status_code == 200
    broken = slices[0].read_bytes()[:600]  # a header with the names, cut before the pixels
    post(running_server, {"file": ("Doe_Jane.dcm", broken)})
    log = running_server.log_text()
    # Access lines are bare JSON objects, one per request.
    access = [json.loads(line) for line in log.splitlines() if line.startswith('{"request_id"')]
    assert any(entry["route"] == "/v1/predict" and entry["status"] == 200 for entry in access)
    for secret in PHI_STRINGS:
        assert secret not in log


def test_metrics_count_predictions(running_server):
    metrics = httpx.get(
        f"{running_server.url}/metrics", headers={"X-API-Key": running_server.api_key}
    ).text
    assert "http_requests_total" in metrics or "http_request_duration" in metrics


def test_onnx_server_process_never_imports_torch_monai_mlflow_or_matplotlib(
    materialized_model, trained_model, tmp_path
):
    image = min(
        (next((trained_model.root / "data" / "raw").iterdir()) / "imagesTr").glob("*.nii.gz")
    )
    script = textwrap.dedent(
        """
        import json, sys, threading, time
        import httpx, uvicorn
        config = uvicorn.Config(
            "ct_seg.api.main:create_app", factory=True,
            host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        url = f"http://127.0.0.1:{sys.argv[1]}"
        for _ in range(600):
            try:
                if httpx.get(url + "/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        with open(sys.argv[2], "rb") as handle:
            files = {"file": ("s.nii.gz", handle.read())}
        answer = httpx.post(url + "/v1/predict", files=files, timeout=120)
        server.should_exit = True
        thread.join(10)
        heavy = {"torch", "monai", "mlflow", "matplotlib"}
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in heavy)
        print(json.dumps({"status": answer.status_code, "heavy": heavy}))
        """
    )
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **os.environ,
        "MEDAI__API__MODEL_DIR": str(materialized_model),
        "MEDAI_ENV": "development",
    }
    env.pop("MEDAI_API_KEYS", None)
    result = subprocess.run(
        [sys.executable, "-c", script, str(port), str(image)],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["status"] == 200
    assert report["heavy"] == []


def test_schemathesis_finds_no_server_error_or_schema_violation(running_server, tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "run",
            f"{running_server.url}/openapi.json",
            "-H",
            f"X-API-Key: {running_server.api_key}",
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
            "--max-examples",
            "25",
            "--generation-deterministic",
            "--request-timeout",
            "60",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    assert_still_serving(running_server)
