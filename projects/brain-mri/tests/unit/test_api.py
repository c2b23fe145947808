"""brain-mri's server: the kit's app under its name, without the training stack."""

from __future__ import annotations

import pytest

from brain_mri.api.main import create_app
from medai.testing import HEAVY_PACKAGES, packages_loaded_by


def test_the_openapi_document_speaks_of_this_project_and_modality(tmp_path):
    app = create_app({"MEDAI_ENV": "development", "MEDAI__API__MODEL_DIR": str(tmp_path)})
    info, paths = app.openapi()["info"], app.openapi()["paths"]
    assert info["title"] == "brain-mri inference"
    assert "whole tumour, tumour core and enhancing tumour in a MRI volume" in info["description"]
    assert paths["/v1/predict"]["post"]["summary"] == "Segment a MRI volume"


def test_a_server_without_a_model_folder_exits_naming_the_serve_task():
    expected = r"api\.model_dir: not set: .*--project=brain-mri"
    with pytest.raises(SystemExit, match=expected):
        create_app({"MEDAI_ENV": "development"})


def test_server_and_commands_import_neither_torch_nor_monai_nor_mlflow():
    modules = ["brain_mri.api.main", "brain_mri.cli"]
    assert packages_loaded_by(modules, watch={*HEAVY_PACKAGES, "matplotlib"}) == set()
