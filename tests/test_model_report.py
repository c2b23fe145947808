"""tools/model_report.py and `invoke report`: read against a real SQLite MLflow store."""

from __future__ import annotations

import shutil
import socket
import sys

import mlflow
import pytest
from invoke.context import Context
from invoke.exceptions import Exit
from mlflow.tracking import MlflowClient
from tools.model_report import (
    NO_MODEL,
    NO_VERSION,
    NOT_EVALUATED,
    ReportRow,
    format_table,
    metric_summary,
    model_rows,
)

from medai.testing import migrated_mlflow_store

pytestmark = pytest.mark.integration

PRIMARY_TAGS = {
    "eval.primary_metric": "dice_foreground",
    "eval.dice_foreground_mean": "0.91234",
    "eval.dice_foreground_ci_low": "0.88",
    "eval.dice_foreground_ci_high": "0.935",
    "eval.hd95_liver_mean": "4.2",
    "eval.run_id": "abc",
}


@pytest.fixture(scope="module")
def empty_store(tmp_path_factory):
    """A store with MLflow's tables created once: migrating takes seconds, copying not."""
    return migrated_mlflow_store(tmp_path_factory.mktemp("template"))


@pytest.fixture
def store(tmp_path, monkeypatch, empty_store):
    """``(uri, client)`` of a fresh store in tmp_path; MLflow's global URIs reset after."""
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MEDAI_ENV"):
        monkeypatch.delenv(name, raising=False)
    shutil.copyfile(empty_store, tmp_path / "mlflow.db")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    yield uri, MlflowClient(tracking_uri=uri, registry_uri=uri)
    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)


def register(client, tmp_path, name, tags_per_version, aliases):
    """Versions 1..n of ``name`` (a registry entry needs no artifact), tagged, with aliases."""
    client.create_registered_model(name)
    for index, tags in enumerate(tags_per_version, start=1):
        version = client.create_model_version(name, source=(tmp_path / f"v{index}").as_uri())
        assert str(version.version) == str(index)
        for key, value in tags.items():
            client.set_model_version_tag(name, str(index), key, value)
    for alias, version in aliases.items():
        client.set_registered_model_alias(name, alias, str(version))


def test_primary_metric_is_shown_with_its_interval():
    assert metric_summary(PRIMARY_TAGS) == "dice_foreground 0.9123 [0.8800, 0.9350]"


def test_without_a_primary_metric_every_mean_is_shown():
    tags = {k: v for k, v in PRIMARY_TAGS.items() if k != "eval.primary_metric"}
    assert metric_summary(tags) == "dice_foreground 0.9123 [0.8800, 0.9350]; hd95_liver 4.2000"


def test_a_version_without_eval_tags_is_not_evaluated():
    assert metric_summary({"medai.git_commit": "abc"}) == NOT_EVALUATED


def test_a_primary_metric_without_its_value_says_which_tag_is_missing():
    assert metric_summary({"eval.primary_metric": "auroc"}) == "auroc: no eval.auroc_mean tag"


def test_rows_show_champion_and_challenger_versions_from_the_registry(store, tmp_path):
    _, client = store
    register(
        client,
        tmp_path,
        "seg",
        [{}, PRIMARY_TAGS, {"eval.auroc_mean": "0.8"}],
        {"champion": 2, "challenger": 1},
    )

    assert model_rows(client, "seg-project", "seg") == [
        ReportRow("seg-project", "seg", "champion", "2", "dice_foreground 0.9123 [0.8800, 0.9350]"),
        ReportRow("seg-project", "seg", "challenger", "1", NOT_EVALUATED),
    ]


def test_a_missing_alias_and_a_missing_model_are_rows_not_errors(store, tmp_path):
    _, client = store
    register(client, tmp_path, "cls", [{"eval.auroc_mean": "0.8"}], {"challenger": 1})

    assert model_rows(client, "cls", "cls") == [
        ReportRow("cls", "cls", "champion", "-", NO_VERSION),
        ReportRow("cls", "cls", "challenger", "1", "auroc 0.8000"),
    ]
    assert model_rows(client, "other", "other") == [ReportRow("other", "other", "-", "-", NO_MODEL)]


def test_table_columns_line_up():
    table = format_table([ReportRow("ct-seg", "ct-seg", "champion", "12", "dice 0.9")])
    header, row = table.splitlines()
    assert header.index("alias") == row.index("champion")
    assert header.index("metric [CI]") == row.index("dice 0.9")


# A project's settings module as the report sees it: real medai settings, tracking from
# MLFLOW_TRACKING_URI as the config loader reads it.
SETTINGS = """\
import os

from medai.config import DockerSettings, ProjectSettings, TrackingSettings


def load():
    return ProjectSettings(
        project="{name}",
        environment="development",
        docker=DockerSettings(image="{name}:1"),
        tracking=TrackingSettings(
            uri=os.environ.get("MLFLOW_TRACKING_URI"), registered_model={model!r}
        ),
    )
"""


@pytest.fixture
def report_tasks(tmp_path, monkeypatch, tasks):
    """The tasks module pointed at a root with projects seg-a (model seg-a), cls-b (model
    cls-b-model) and broken-c (no settings module), their packages importable."""
    root = tmp_path / "root"
    projects = {"seg-a": None, "cls-b": "cls-b-model", "broken-c": None}
    for name, model in projects.items():
        package = name.replace("-", "_")
        source = root / "projects" / name / "src" / package
        source.mkdir(parents=True)
        (root / "projects" / name / "pyproject.toml").write_text(f'[project]\nname = "{name}"\n')
        (source / "__init__.py").write_text("")
        if name != "broken-c":
            (source / "settings.py").write_text(SETTINGS.format(name=name, model=model))
        monkeypatch.syspath_prepend(str(source.parent))
    monkeypatch.setattr(tasks, "ROOT", root)
    yield tasks
    for name in projects:
        for module in [m for m in sys.modules if m.split(".")[0] == name.replace("-", "_")]:
            del sys.modules[module]


def test_report_task_reads_each_projects_model_from_its_configured_store(
    store, tmp_path, monkeypatch, report_tasks, capsys
):
    uri, client = store
    register(client, tmp_path, "seg-a", [PRIMARY_TAGS, {}], {"champion": 1, "challenger": 2})
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)

    report_tasks.report(Context())

    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == [
        "project",
        "registered",
        "model",
        "alias",
        "version",
        "metric",
        "[CI]",
    ]
    assert [line.split(maxsplit=4) for line in lines[1:]] == [
        ["broken-c", "?", "-", "-", "settings do not load: No module named 'broken_c.settings'"],
        ["cls-b", "cls-b-model", "-", "-", NO_MODEL],
        ["seg-a", "seg-a", "champion", "1", "dice_foreground 0.9123 [0.8800, 0.9350]"],
        ["seg-a", "seg-a", "challenger", "2", NOT_EVALUATED],
    ]


def test_an_embedded_store_that_does_not_exist_is_not_created(
    tmp_path, monkeypatch, report_tasks, capsys
):
    missing = tmp_path / "nowhere" / "mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{missing}")

    report_tasks.report(Context())

    assert capsys.readouterr().out.count(NO_MODEL) == 2
    assert not missing.parent.exists()


@pytest.mark.usefixtures("store")  # no MLflow variables leak in or out
def test_an_unreachable_tracking_server_is_one_line_and_status_2(monkeypatch, report_tasks):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{port}")

    with pytest.raises(Exit) as caught:
        report_tasks.report(Context())

    assert caught.value.code == 2
    message = str(caught.value.message)
    assert message.startswith(
        f"error: MLflow tracking server http://127.0.0.1:{port} is unreachable"
    )
    assert "\n" not in message
