"""``python -m medai.tuning`` refuses bad input with one line, exit 2, before anything exists.

Each case runs the command's ``main`` on cxr-cls (installed in the root venv) with its
MLflow store and study file pointed into the test's folder: after a refusal neither
exists, so no study, no run and no registry entry was made.
"""

from __future__ import annotations

import json

import pytest

from medai.tuning.cli import main, worker_threads

SPACE = {"train.learning_rate": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True}}


def _run(tmp_path, *options, space=SPACE, storage=None):
    argv = [
        "--project",
        "cxr-cls",
        "--trials",
        "2",
        "--set",
        f"tune.space={json.dumps(space)}",
        "--set",
        f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}",
        "--storage",
        storage or f"sqlite:///{tmp_path / 'optuna.db'}",
        *options,
    ]
    return main(argv)


@pytest.fixture(autouse=True)
def _own_environment(monkeypatch):
    monkeypatch.delenv("MEDAI_ENV", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


def _refusal(capsys, tmp_path, code):
    captured = capsys.readouterr()
    assert code == 2
    lines = captured.err.splitlines()
    assert lines[0].startswith("error: ")
    assert all(line.startswith(("error: ", "hint: ")) for line in lines)
    assert len(lines) <= 2
    assert not (tmp_path / "mlflow.db").exists()
    assert not (tmp_path / "optuna.db").exists()
    return lines[0]


def test_a_space_naming_an_unknown_key_is_refused(tmp_path, capsys):
    space = {"train.lerning_rate": {"type": "float", "low": 0.1, "high": 0.2}}
    line = _refusal(capsys, tmp_path, _run(tmp_path, space=space))
    assert "tune.space.train.lerning_rate: unknown config key 'train.lerning_rate'" in line


def test_an_invalid_distribution_is_refused(tmp_path, capsys):
    space = {"train.batch_size": {"type": "float", "low": 8, "high": 32}}
    line = _refusal(capsys, tmp_path, _run(tmp_path, space=space))
    assert "tune.space.train.batch_size: expected a distribution of the field's type" in line


def test_an_empty_space_has_nothing_to_search(tmp_path, capsys):
    line = _refusal(capsys, tmp_path, _run(tmp_path, space={}))
    assert line == (
        "error: project cxr-cls: tune.space is empty, nothing to search; declare it in the "
        "project's configs (docs/tuning.md) or with --set tune.space='{...}'"
    )


def test_an_unreachable_storage_is_named_without_its_password(tmp_path, capsys):
    storage = "postgresql://tuner:hunter2@127.0.0.1:1/optuna"
    line = _refusal(capsys, tmp_path, _run(tmp_path, storage=storage))
    assert line.startswith("error: cannot reach study storage postgresql://tuner:***@127.0.0.1:1/")
    assert "hunter2" not in line


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (("--trials", "0"), "error: --trials must be at least 1, got 0"),
        (("--workers", "0"), "error: --workers must be 1 to 64, got 0"),
        (("--study", "../x"), "error: --study must be letters, digits"),
    ],
)
def test_bad_options_are_one_line(tmp_path, capsys, options, expected):
    assert _refusal(capsys, tmp_path, _run(tmp_path, *options)).startswith(expected)


def test_an_unknown_project_is_refused(capsys):
    code = main(["--project", "nope", "--trials", "1"])
    assert code == 2
    assert capsys.readouterr().err.startswith("error: unknown project 'nope'; known: ")


def test_workers_share_the_cores():
    assert worker_threads(2, cores=2) == 1
    assert worker_threads(3, cores=16) == 5
    assert worker_threads(4, cores=2) == 1
