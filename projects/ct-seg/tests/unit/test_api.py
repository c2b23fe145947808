"""ct-seg's server: the kit's app under its name, without the training stack."""

from __future__ import annotations

import pytest

from ct_seg.api.main import create_app
from medai.testing import HEAVY_PACKAGES, packages_loaded_by


def test_the_openapi_document_speaks_of_this_project_and_modality(tmp_path):
    app = create_app({"MEDAI_ENV": "development", "MEDAI__API__MODEL_DIR": str(tmp_path)})
    info, paths = app.openapi()["info"], app.openapi()["paths"]
    assert info["title"] == "ct-seg inference"
    assert "an organ and its lesions in a CT volume" in info["description"]
    assert paths["/v1/predict"]["post"]["summary"] == "Segment a CT volume"


def test_a_server_without_a_model_folder_exits_naming_the_serve_task():
    expected = r"api\.model_dir: not set: .*--project=ct-seg"
    with pytest.raises(SystemExit, match=expected):
        create_app({"MEDAI_ENV": "development"})


def test_server_and_commands_import_neither_torch_nor_monai_nor_mlflow():
    modules = ["ct_seg.api.main", "ct_seg.cli"]
    assert packages_loaded_by(modules, watch={*HEAVY_PACKAGES, "matplotlib"}) == set()
