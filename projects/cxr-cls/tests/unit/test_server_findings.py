"""cxr-cls's own server checks: its findings in the docs and answers, on a real ONNX export.

The checks every project's server shares are the template's tests/unit/test_api.py.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from cxr_cls.api.main import create_app
from cxr_cls.data.synthetic import FINDINGS
from cxr_cls.settings import BINDING
from medai.classification.export import export_checked_classifier
from medai.classification.model_factory import build_network
from medai.serving import ModelCard, write_bundle
from medai.testing import HEAVY_PACKAGES, packages_loaded_by

with warnings.catch_warnings():
    # Starlette asks for httpx2 in its TestClient; scoped to this import only.
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette\.testclient`")
    from fastapi.testclient import TestClient

KEY = "cxr-unit-key-" + "k" * 20


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """An untrained development-shape network exported to ONNX in a model folder."""
    settings = BINDING.load(environ={})
    torch.manual_seed(0)
    network = build_network(settings.model, len(FINDINGS))
    root = tmp_path_factory.mktemp("bundle")
    onnx = export_checked_classifier(network, root / "model.onnx", image_size=64)
    card = ModelCard(
        name="cxr-cls",
        version="1",
        alias="challenger",
        extra={
            "preprocessing": {"image_size": 64, "standardize": False},
            "labels": {str(k): name for k, name in enumerate(FINDINGS)},
            "thresholds": dict.fromkeys(FINDINGS, 0.5),
        },
    )
    return write_bundle(root / "cxr-cls" / "1", card, onnx).folder


def test_the_docs_describe_chest_radiograph_findings(model_dir):
    document = create_app({"MEDAI__API__MODEL_DIR": str(model_dir)}).openapi()
    info, operation = document["info"], document["paths"]["/v1/predict"]["post"]

    assert (info["title"], operation["summary"]) == (
        "cxr-cls inference",
        "Classify a chest radiograph",
    )
    assert "the probability of each finding in a chest radiograph" in info["description"]
    assert "- `pneumothorax`: air in the pleural space" in info["description"]


def test_a_synthetic_png_gets_a_probability_per_finding(model_dir, tiny_dataset):
    png = next(item.path for item in tiny_dataset.items if item.path.suffix == ".png")
    environ = {
        "MEDAI_ENV": "development",
        "MEDAI__API__MODEL_DIR": str(model_dir),
        "MEDAI_API_KEYS": KEY,
    }
    with TestClient(create_app(environ)) as client:
        for _ in range(600):
            if client.get("/ready").status_code == 200:
                break
        response = client.post(
            "/v1/predict",
            files={"file": ("x.png", png.read_bytes())},
            params={"heatmap": "cardiomegaly"},
            headers={"X-API-Key": KEY},
        )
        unauthorised = client.post("/v1/predict", files={"file": ("x.png", png.read_bytes())})

    assert response.status_code == 200, response.text
    body = response.json()
    assert list(body["probabilities"]) == list(FINDINGS)
    assert [h["label"] for h in body["heatmaps"]] == ["cardiomegaly"]
    assert unauthorised.status_code == 401


def test_a_colour_image_is_refused_by_the_project_server(model_dir):
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((64, 64, 3), np.uint8), "RGB").save(buffer, format="JPEG")
    app = create_app({"MEDAI_ENV": "development", "MEDAI__API__MODEL_DIR": str(model_dir)})
    with TestClient(app) as client:
        for _ in range(600):
            if client.get("/ready").status_code == 200:
                break
        response = client.post("/v1/predict", files={"file": ("x.jpg", buffer.getvalue())})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "unsupported_image"


def test_importing_the_server_loads_no_torch_monai_mlflow_matplotlib_or_sklearn():
    watched = {*HEAVY_PACKAGES, "matplotlib", "sklearn"}
    modules = ["cxr_cls.api.main", "cxr_cls.cli", "cxr_cls.api.utils.validation"]
    assert packages_loaded_by(modules, watch=watched) == set()
