"""The kit's server and ``predict`` refuse a radiograph whose work exceeds ``limits``, by name."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from medai.classification.cli import project_commands
from medai.classification.serving.app import app_factory
from medai.classification.serving.predict import predict_router
from medai.serving import ModelCard, write_bundle


def png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def test_the_server_answers_413_when_classifying_would_exceed_the_memory_limit(
    demo, exported, test_client, start
):
    _, onnx_path = exported
    card = ModelCard(
        name="shape-cls",
        version="2",
        extra={
            "preprocessing": {"image_size": 32, "standardize": False},
            "labels": {"0": "square", "1": "bar"},
        },
    )
    model_dir = write_bundle(demo.root / "models" / "shape-cls" / "2", card, onnx_path).folder
    create = app_factory(demo.project, routers=[predict_router(demo.project)])
    app = create(
        {
            "MEDAI_ENV": "development",
            "MEDAI__API__MODEL_DIR": str(model_dir),
            "MEDAI__LIMITS__MAX_MEMORY_MB": "1",
        }
    )
    client = start(test_client, app)
    try:
        small = client.post(
            "/v1/predict", files={"file": ("a.png", png(np.zeros((64, 64), np.uint8)))}
        )
        large = client.post(
            "/v1/predict", files={"file": ("b.png", png(np.zeros((1200, 1000), np.uint8)))}
        )
    finally:
        client.__exit__(None, None, None)

    assert small.status_code == 200, small.text
    assert large.status_code == 413, large.text
    error = large.json()["error"]
    assert error["code"] == "work_limit_exceeded"
    assert error["message"].startswith("the prediction would hold about ")
    assert error["message"].endswith("the limit is 1 MB (limits.max_memory_mb)")


@pytest.mark.integration
def test_predict_refuses_in_one_line_naming_the_file(trained_demo, tmp_path, monkeypatch, capsys):
    demo, settings = trained_demo.demo, trained_demo.settings
    monkeypatch.setenv("MLFLOW_TRACKING_URI", str(settings.tracking.uri))
    source = tmp_path / "large.png"
    source.write_bytes(png(np.zeros((1200, 1000), np.uint8)))
    commands = project_commands(demo.project, "shape_cls.api.main:create_app")

    status = commands.predict(
        [
            "--set",
            f"tracking.uri={settings.tracking.uri}",
            "--set",
            "limits.max_memory_mb=1",
            str(source),
            str(tmp_path / "out.json"),
        ]
    )

    (error,) = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert status == 2
    assert error.startswith(f"error: {source}: the prediction would hold about ")
    assert error.endswith("(limits.max_memory_mb)")
    assert not (tmp_path / "out.json").exists()
