"""The kit's commands fail fast with one line and status 2, before any heavy import."""

from __future__ import annotations

import numpy as np
import pytest

from medai.io import write_nifti
from medai.segmentation.cli import project_commands
from medai.testing import KindCommandChecks


@pytest.fixture
def commands(demo, tmp_path, monkeypatch):
    monkeypatch.delenv("MEDAI_ENV", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'guard.db'}")
    return project_commands(demo.project, "sphere_seg.api.main:create_app")


def test_predict_help_names_the_modality_and_the_project(commands, capsys):
    with pytest.raises(SystemExit):
        commands.predict(["--help"])
    assert "Segment a PET volume with the registered sphere-seg model." in capsys.readouterr().out


def test_predict_with_a_missing_input_names_the_path(commands, tmp_path, capsys):
    missing = tmp_path / "nope.nii.gz"
    assert commands.predict([str(missing), str(tmp_path / "out.nii.gz")]) == 2
    err = capsys.readouterr().err
    assert str(missing) in err
    assert "does not exist" in err


def test_predict_refuses_a_non_nifti_output_before_reading(commands, tmp_path, capsys):
    assert commands.predict([str(tmp_path), str(tmp_path / "mask.png")]) == 2
    assert "output must end in .nii.gz or .nii" in capsys.readouterr().err


def test_predict_refuses_an_unwritable_output_before_loading_a_model(commands, tmp_path, capsys):
    image = write_nifti(tmp_path / "scan.nii.gz", np.zeros((8, 8, 8), np.int16), np.eye(4))
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    assert commands.predict([str(image), str(blocker / "mask.nii.gz")]) == 2
    assert "mask.nii.gz: cannot be written" in capsys.readouterr().err
    assert not list(tmp_path.rglob(".partial-*"))


def test_evaluate_in_an_unknown_environment_exits_2(commands, monkeypatch, capsys):
    monkeypatch.setenv("MEDAI_ENV", "staging")
    assert commands.evaluate([]) == 2
    assert "unknown environment 'staging'" in capsys.readouterr().err


class TestKindCommands(KindCommandChecks):
    """The checks every kind's commands share (an empty registry, a keyless production)."""
