"""The classification server's ONNX path (and the commands' checks) stay free of torch."""

from __future__ import annotations

from medai.testing import HEAVY_PACKAGES, packages_loaded_by

LIGHT_MODULES = [
    "medai.classification.settings",
    "medai.classification.project",
    "medai.classification.data",
    "medai.classification.cli",
    "medai.classification.training_inputs",
    "medai.classification.prediction",
    "medai.classification.serving.app",
    "medai.classification.serving.model",
    "medai.classification.serving.predict",
    "medai.classification.serving.response",
    "medai.classification.serving.validation",
]
WATCHED = {*HEAVY_PACKAGES, "matplotlib", "sklearn"}


def test_the_onnx_serving_path_imports_no_torch_monai_mlflow_matplotlib_or_sklearn():
    assert packages_loaded_by(LIGHT_MODULES, watch=WATCHED) == set()


def test_the_watch_list_would_see_the_training_path():
    assert packages_loaded_by(["medai.classification.evaluation"], watch=WATCHED) == WATCHED
