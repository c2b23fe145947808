"""The kit's commands fail fast with one line and status 2, before any heavy import."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from medai.classification.cli import project_commands
from medai.testing import KindCommandChecks


@pytest.fixture
def commands(demo):
    return project_commands(demo.project, "shape_cls.api.main:create_app")


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


class TestKindCommands(KindCommandChecks):
    """The checks every kind's commands share (an empty registry, a keyless production)."""
