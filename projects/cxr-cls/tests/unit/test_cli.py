"""cxr-cls's entry points are the kit's commands, wired to cxr-cls: one line and status 2."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from cxr_cls.cli import evaluate_main, predict_main, serve_main, train_main

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


@pytest.mark.parametrize("command", [train_main, evaluate_main], ids=["train", "evaluate"])
def test_a_misspelt_key_stops_the_command_with_one_line(command, capsys):
    status = command(["--set", "evaluate.n_bin=5"])
    (line,) = capsys.readouterr().err.splitlines()
    expected = (
        "error: --set evaluate.n_bin=5: evaluate.n_bin: unknown key; did you mean 'n_bins'? "
        "(allowed here: bootstrap_resamples, cam_cases, confidence, n_bins, output_dir, "
        "thresholds)"
    )
    assert (status, line) == (2, expected)


def test_predict_help_speaks_of_chest_radiographs_and_cxr_cls(capsys):
    with pytest.raises(SystemExit):
        predict_main(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "Classify a chest radiograph with the registered cxr-cls model." in out


def test_predict_refuses_non_json_output_before_reading(tmp_path, capsys):
    assert predict_main([str(tmp_path / "x.dcm"), str(tmp_path / "result.png")]) == 2
    assert "result.png: output must end in .json" in capsys.readouterr().err


def test_predict_refuses_a_ct_slice_before_loading_a_model(tmp_path, capsys):
    from pydicom.data import get_testdata_file  # noqa: PLC0415

    ct = get_testdata_file("CT_small.dcm")
    assert predict_main([ct, str(tmp_path / "out.json")]) == 2
    assert "Modality CT is not a radiograph" in capsys.readouterr().err


@pytest.mark.parametrize("command", [train_main, evaluate_main], ids=["train", "evaluate"])
def test_an_unknown_environment_stops_every_command(command, monkeypatch, capsys):
    monkeypatch.setenv("MEDAI_ENV", "staging")  # the autouse fixture restores it
    assert command([]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.endswith("unknown environment 'staging'; expected one of development, production")


def test_serving_production_without_a_key_stops_before_the_registry(monkeypatch, capsys):
    monkeypatch.setenv("MEDAI_ENV", "production")  # no MEDAI_API_KEYS: the fixture cleared it
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://registry.invalid:5000")
    with pytest.raises(SystemExit, match="2"):
        serve_main(["--port", "8123"])
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("error: refusing to start: production needs at least one API key")


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ("images/patient00000/not-there.png,1.0,0.0,0.0,0.0", r"line 2, column 'Path': image "),
        ("images/patient00000/study1_view1.png,yes,0.0,0.0,0.0", r"column 'cardiomegaly': expec"),
    ],
    ids=["missing-image", "unknown-label-value"],
)
def test_the_train_script_stops_on_a_bad_csv_with_one_line_and_tracks_nothing(
    tiny_dataset, tmp_path, row, expected
):
    lines = (tiny_dataset.root / "labels.csv").read_text().splitlines()
    broken = tmp_path / "broken.csv"
    broken.write_text("\n".join([lines[0], row, *lines[2:]]) + "\n")
    store = tmp_path / "never.db"
    overrides = [
        f"data.root={tmp_path / 'data'}",
        "data.source=csv",
        f"data.csv.path={broken}",
        f"data.csv.image_root={tiny_dataset.root}",
        f"tracking.uri=sqlite:///{store}",
    ]
    command = [sys.executable, str(SCRIPTS / "train.py")]
    command += [arg for override in overrides for arg in ("--set", override)]

    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)

    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"error: {broken}: ")
    assert done.stderr.count("\n") == 1, done.stderr
    assert re.search(expected, done.stderr), done.stderr
    assert not store.exists(), "nothing may be tracked or registered"
