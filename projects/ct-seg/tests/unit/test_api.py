"""ct-seg's server: the kit's app with ct-seg's name, words and route, and no training stack."""

from __future__ import annotations

import pytest

from ct_seg.api.main import create_app
from medai.testing import HEAVY_PACKAGES, packages_loaded_by


def test_server_factory_without_model_dir_exits_with_one_line():
    with pytest.raises(SystemExit, match=r"^error: api.model_dir: not set: .*--project=ct-seg"):
        create_app({"MEDAI_ENV": "development"})


def test_the_docs_describe_ct_organ_and_lesion_segmentation(tmp_path):
    app = create_app({"MEDAI_ENV": "development", "MEDAI__API__MODEL_DIR": str(tmp_path)})
    document = app.openapi()

    assert document["info"]["title"] == "ct-seg inference"
    assert document["info"]["description"].startswith(
        "Segments an organ and its lesions in a CT volume (NIfTI, or a DICOM series)."
    )
    assert document["paths"]["/v1/predict"]["post"]["summary"] == "Segment a CT volume"


def test_importing_the_server_loads_no_torch_monai_mlflow_or_matplotlib():
    watched = {*HEAVY_PACKAGES, "matplotlib"}
    assert packages_loaded_by(["ct_seg.api.main", "ct_seg.cli"], watch=watched) == set()
