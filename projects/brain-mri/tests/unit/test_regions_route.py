"""brain-mri's own route, ``GET /v1/regions``: the served model's regions, behind the key."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from fastapi import FastAPI

from brain_mri.api.main import ROUTERS
from brain_mri.api.routes.regions import router
from brain_mri.settings import BINDING
from medai.segmentation.regions import regions_from_settings
from medai.segmentation.serving.model import SegmentationServedModel
from medai.serving import ModelCard
from medai.serving.deps import get_model
from medai.serving.errors import install_error_handlers

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette\.testclient`")
    from fastapi.testclient import TestClient

CARD = ModelCard(name="brain-mri", version="4")


def served(*, with_regions: bool) -> SegmentationServedModel:
    settings = BINDING.load(environ={"MEDAI_ENV": "development"})
    regions = regions_from_settings(settings.data) if with_regions else None
    return SegmentationServedModel(
        CARD,
        {0: "background", 1: "tumour"},
        lambda volume: np.zeros(volume.array.shape[-3:], dtype=np.uint8),
        regions=regions,
    )


def client_for(model: SegmentationServedModel) -> TestClient:
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(router)
    app.dependency_overrides[get_model] = lambda: model
    return TestClient(app)


def test_the_regions_route_is_one_of_the_projects_routers():
    assert router in ROUTERS


def test_regions_are_listed_in_output_channel_order_with_their_labels():
    answer = client_for(served(with_regions=True)).get("/v1/regions")
    assert answer.status_code == 200
    assert answer.json() == {
        "model": "brain-mri",
        "version": "4",
        "regions": [
            {"name": "whole_tumor", "channel": 0, "labels": [1, 2, 3], "painted_as": 1},
            {"name": "tumor_core", "channel": 1, "labels": [2, 3], "painted_as": 2},
            {"name": "enhancing_tumor", "channel": 2, "labels": [3], "painted_as": 3},
        ],
    }


def test_a_label_model_answers_409_with_one_json_error():
    answer = client_for(served(with_regions=False)).get("/v1/regions")
    assert answer.status_code == 409
    error = answer.json()["error"]
    assert error["code"] == "no_regions"
    assert "label model" in error["message"]


@pytest.mark.parametrize("path", ["/v1/regions"])
def test_the_served_app_documents_the_route(tmp_path, path):
    from brain_mri.api.main import create_app  # noqa: PLC0415

    app = create_app({"MEDAI_ENV": "development", "MEDAI__API__MODEL_DIR": str(tmp_path)})
    operation = app.openapi()["paths"][path]["get"]
    assert operation["summary"] == "The tumour regions the model outputs"
    assert {"401", "409"} <= set(operation["responses"])
