"""The kit's commands fail fast with one line and status 2, before any heavy import."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from medai.classification.cli import project_commands


@pytest.fixture
def commands(demo):
    return project_commands(demo.project, "shape_cls.api.main:create_app")


def test_train_with_an_unknown_config_key_exits_2_with_one_line(commands, capsys):
    assert commands.train(["--set", "train.epoch=1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --set train.epoch=1: train.epoch: unknown key")
    assert err.count("\n") == 1


def test_predict_help_names_the_modality_and_the_project(commands, capsys):
    with pytest.raises(SystemExit):
        commands.predict(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "Classify a shape picture with the registered shape-cls model." in out
    assert "--heatmap LABEL" in out


def test_predict_refuses_a_non_json_output_before_reading(commands, tmp_path, capsys):
    assert commands.predict([str(tmp_path / "missing.png"), str(tmp_path / "out.csv")]) == 2
    assert "out.csv: output must end in .json" in capsys.readouterr().err


def test_predict_with_a_missing_input_names_the_path(commands, tmp_path, capsys):
    missing = tmp_path / "nope.png"
    assert commands.predict([str(missing), str(tmp_path / "out.json")]) == 2
    assert capsys.readouterr().err == f"error: {missing}: does not exist\n"


def test_predict_refuses_a_colour_image_before_loading_a_model(commands, tmp_path, capsys):
    image = tmp_path / "photo.png"
    Image.fromarray(np.zeros((64, 64, 3), np.uint8), "RGB").save(image)
    assert commands.predict([str(image), str(tmp_path / "out.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {image}: expected an 8-bit grayscale image, got RGB")
    assert not (tmp_path / "out.json").exists()


def test_evaluate_without_a_registered_model_says_so_in_one_line(commands, demo, capsys):
    store = f"sqlite:///{demo.root / 'mlflow.db'}"
    assert commands.evaluate(["--set", f"tracking.uri={store}"]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error")]
    expected = (
        "error: registered model 'shape-cls' has no version with alias champion, challenger; "
        "train one first"
    )
    assert errors == [expected]


def test_training_on_a_csv_with_a_missing_image_exits_2_naming_the_line(commands, demo, capsys):
    data = demo.project.load_data(demo.load())
    csv_path = data.root / "labels.csv"
    lines = csv_path.read_text().splitlines()
    lines[2] = "images/patient00000/missing.png,1.0,0.0"
    csv_path.write_text("\n".join(lines) + "\n")
    store = demo.root / "mlflow.db"

    assert commands.train(["--set", f"tracking.uri=sqlite:///{store}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {csv_path}: line 3, column 'Path': image ")
    assert err.count("\n") == 1
    assert not store.exists(), "nothing may be tracked for data that cannot be read"


def test_serve_in_production_without_an_api_key_refuses_first(commands, monkeypatch, capsys):
    monkeypatch.setenv("MEDAI_ENV", "production")
    monkeypatch.delenv("MEDAI_API_KEYS", raising=False)
    monkeypatch.delenv("MEDAI_API_KEYS_FILE", raising=False)
    with pytest.raises(SystemExit) as caught:
        commands.serve([])
    assert caught.value.code == 2
    assert "production needs at least one API key" in capsys.readouterr().err
