"""cxr-cls's server: the kit's app in its words, importing no training stack."""

from __future__ import annotations

import pytest

from cxr_cls.api.main import create_app
from cxr_cls.utils.medical_utils import LABELS
from medai.testing import HEAVY_PACKAGES, packages_loaded_by


def test_the_openapi_document_names_the_project_its_modality_and_labels(tmp_path):
    app = create_app({"MEDAI_ENV": "development", "MEDAI__API__MODEL_DIR": str(tmp_path)})
    document = app.openapi()
    info, operation = document["info"], document["paths"]["/v1/predict"]["post"]
    assert info["title"] == "cxr-cls inference"
    assert operation["summary"] == "Classify a chest radiograph"
    assert all(f"- `{label}`: " in info["description"] for label in LABELS)


def test_without_its_model_folder_the_server_names_the_serve_task():
    with pytest.raises(SystemExit, match=r"--project=cxr-cls"):
        create_app({"MEDAI_ENV": "development"})


def test_the_server_and_the_commands_load_no_torch_mlflow_or_plotting():
    modules = ["cxr_cls.api.main", "cxr_cls.cli"]
    watched = {*HEAVY_PACKAGES, "matplotlib", "sklearn"}
    assert packages_loaded_by(modules, watch=watched) == set()
