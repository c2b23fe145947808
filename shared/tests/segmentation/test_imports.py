"""The segmentation server's ONNX path stays free of the training stack."""

from __future__ import annotations

from medai.testing import HEAVY_PACKAGES, packages_loaded_by

LIGHT_MODULES = [
    "medai.segmentation",
    "medai.segmentation.settings",
    "medai.segmentation.project",
    "medai.segmentation.data",
    "medai.segmentation.measures",
    "medai.segmentation.onnx_segmenter",
    "medai.segmentation.serving.app",
    "medai.segmentation.serving.model",
    "medai.segmentation.serving.predict",
    "medai.segmentation.serving.response",
    "medai.segmentation.serving.validation",
    "medai.segmentation.cli",
]


def test_the_onnx_serving_path_imports_no_torch_monai_mlflow_or_matplotlib():
    watched = {*HEAVY_PACKAGES, "matplotlib", "sklearn"}
    assert packages_loaded_by(LIGHT_MODULES, watch=watched) == set()


def test_the_watch_list_would_see_the_training_path():
    assert packages_loaded_by(["medai.segmentation.plots"], watch={"matplotlib"}) == {"matplotlib"}
