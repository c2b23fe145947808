"""ct-seg's entry points are the kit's commands, wired to ct-seg: one line and status 2."""

from __future__ import annotations

import pytest

from ct_seg.cli import evaluate_main, predict_main, serve_main, train_main


def test_train_with_unknown_config_key_exits_2_with_one_line(capsys):
    assert train_main(["--set", "train.epoch=1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --set train.epoch=1: train.epoch: unknown key")
    assert err.count("\n") == 1


def test_predict_help_speaks_of_ct_and_ct_seg(capsys):
    with pytest.raises(SystemExit):
        predict_main(["--help"])
    assert "Segment a CT volume with the registered ct-seg model." in capsys.readouterr().out


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
