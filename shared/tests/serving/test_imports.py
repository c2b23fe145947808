from medai.testing import packages_loaded_by


def test_the_serving_app_imports_without_torch_monai_or_mlflow():
    assert (
        packages_loaded_by(
            [
                "medai.serving",
                "medai.serving.app",
                "medai.serving.connections",
                "medai.serving.uploads",
            ]
        )
        == set()
    )
