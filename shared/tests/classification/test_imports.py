from medai.testing import HEAVY_PACKAGES, packages_loaded_by

SERVING_MUST_NOT_LOAD = HEAVY_PACKAGES | {"matplotlib", "sklearn"}


def test_the_serving_modules_load_no_torch_monai_mlflow_matplotlib_or_sklearn():
    loaded = packages_loaded_by(
        ["medai.classification.onnx_classifier", "medai.classification.preprocessing"],
        watch=SERVING_MUST_NOT_LOAD,
    )

    assert loaded == set()
