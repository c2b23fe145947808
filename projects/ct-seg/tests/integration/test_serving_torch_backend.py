"""The torch backend serves the same registered version as the ONNX one, with equal masks."""

from __future__ import annotations

import gzip
import warnings

import nibabel as nib
import numpy as np
import pytest

from ct_seg.api.main import create_app

with warnings.catch_warnings():
    # Starlette asks for httpx2 in its TestClient; scoped to this import only.
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette\.testclient`")
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.integration


def masks_from(app, image_bytes: bytes, key: str) -> np.ndarray:
    with TestClient(app) as client:
        for _ in range(600):
            if client.get("/ready").status_code == 200:
                break
        response = client.post(
            "/v1/predict", files={"file": ("s.nii.gz", image_bytes)}, headers={"X-API-Key": key}
        )
        assert response.status_code == 200, response.text
        return np.asarray(nib.Nifti1Image.from_bytes(gzip.decompress(response.content)).dataobj)


def test_torch_and_onnx_backends_agree_on_the_same_version(trained_model, materialized_model):
    image = min(
        (next((trained_model.root / "data" / "raw").iterdir()) / "imagesTr").glob("*.nii.gz")
    )
    key = "backend-test-key-" + "z" * 16
    base = {
        "MEDAI_API_KEYS": key,
        "MEDAI__API__MODEL_DIR": str(materialized_model),
        "MLFLOW_TRACKING_URI": str(trained_model.settings.tracking.uri),
    }
    onnx = masks_from(create_app({**base, "MEDAI__API__BACKEND": "onnx"}), image.read_bytes(), key)
    torch = masks_from(
        create_app({**base, "MEDAI__API__BACKEND": "torch"}), image.read_bytes(), key
    )
    assert onnx.shape == torch.shape
    assert (onnx == torch).mean() > 0.995
