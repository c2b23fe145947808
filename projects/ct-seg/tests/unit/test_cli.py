"""The command-line entry points fail fast with one line and status 2 on bad input."""

from __future__ import annotations

import numpy as np
import pytest

from ct_seg.api.main import create_app
from ct_seg.cli import evaluate_main, predict_main, serve_main, train_main
from medai.io import write_nifti


def test_train_with_unknown_config_key_exits_2_with_one_line(capsys):
    assert train_main(["--set", "train.epoch=1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --set train.epoch=1: train.epoch: unknown key")
    assert err.count("\n") == 1


def test_predict_missing_input_names_the_path(tmp_path, capsys):
    missing = tmp_path / "nope.nii.gz"
    assert predict_main([str(missing), str(tmp_path / "out.nii.gz")]) == 2
    err = capsys.readouterr().err
    assert str(missing) in err
    assert "does not exist" in err


def test_predict_refuses_non_nifti_output_before_reading(tmp_path, capsys):
    assert predict_main([str(tmp_path), str(tmp_path / "mask.png")]) == 2
    assert "output must end in .nii.gz or .nii" in capsys.readouterr().err


def test_predict_refuses_unknown_input_format(tmp_path, capsys):
    image = tmp_path / "scan.png"
    image.write_bytes(b"\x89PNG\r\n")
    assert predict_main([str(image), str(tmp_path / "out.nii.gz")]) == 2
    assert "scan.png" in capsys.readouterr().err


def test_evaluate_with_bad_environment_exits_2(monkeypatch, capsys):
    monkeypatch.setenv("MEDAI_ENV", "staging")
    assert evaluate_main([]) == 2
    assert "unknown environment 'staging'" in capsys.readouterr().err


def test_predict_refuses_an_unwritable_output_before_loading_a_model(tmp_path, capsys):
    image = write_nifti(tmp_path / "scan.nii.gz", np.zeros((8, 8, 8), np.int16), np.eye(4))
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    assert predict_main([str(image), str(blocker / "mask.nii.gz")]) == 2
    err = capsys.readouterr().err
    assert "mask.nii.gz: cannot be written" in err
    assert not list(tmp_path.rglob(".partial-*"))


def test_serve_in_production_without_api_key_refuses_before_touching_mlflow(monkeypatch, capsys):
    monkeypatch.setenv("MEDAI_ENV", "production")
    monkeypatch.delenv("MEDAI_API_KEYS", raising=False)
    monkeypatch.delenv("MEDAI_API_KEYS_FILE", raising=False)
    with pytest.raises(SystemExit) as caught:
        serve_main([])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert err == (
        "error: refusing to start: production needs at least one API key "
        "(MEDAI_API_KEYS or MEDAI_API_KEYS_FILE)\n"
    )


def test_server_factory_without_model_dir_exits_with_one_line():
    with pytest.raises(SystemExit, match=r"^error: api.model_dir: not set"):
        create_app({"MEDAI_ENV": "development"})
