"""What every project's commands share: `--set` parsing, one-line errors, train and serve."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest

from medai.cli import (
    EXIT_USER_ERROR,
    command_parser,
    kind_commands,
    load_for_command,
    run_guarded,
    say,
    serve_main,
)
from medai.config import ConfigError, ProjectSettings
from medai.io import MedicalImageError
from medai.project import ProjectBinding


@pytest.fixture
def binding(tmp_path, monkeypatch) -> ProjectBinding[ProjectSettings]:
    """Project ``cli-demo`` in a monorepo under ``tmp_path``; MLflow guarded into it too."""
    monkeypatch.delenv("MEDAI_ENV", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'guard.db'}")
    (tmp_path / "pyproject.toml").write_text("[tool.uv.workspace]\n", encoding="utf-8")
    configs = tmp_path / "projects" / "cli-demo" / "configs"
    configs.mkdir(parents=True)
    (configs / "base.yaml").write_text("project: cli-demo\ndocker: {image: x}\n", encoding="utf-8")
    for environment in ("development", "production"):
        (configs / f"{environment}.yaml").touch()
    return ProjectBinding(configs.parent / "src" / "cli_demo" / "__init__.py", ProjectSettings)


@pytest.fixture
def _restore_logging():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_set_is_repeatable_and_alias_is_offered_only_when_asked():
    args = command_parser("x", alias=True).parse_args(["--set", "a=1", "--set", "b.c=[2]"])
    assert args.overrides == ["a=1", "b.c=[2]"]
    assert args.alias is None
    assert command_parser("x").parse_args([]).overrides == []
    with pytest.raises(SystemExit):
        command_parser("x").parse_args(["--alias", "champion"])


@pytest.mark.usefixtures("_restore_logging")
def test_load_for_command_applies_overrides_and_the_logging_level(binding):
    settings = load_for_command(binding, ["seed=7", "logging.level=WARNING"])
    assert settings.seed == 7
    assert logging.getLogger().level == logging.WARNING


def test_say_prints_one_line(capsys):
    say("wrote mask.nii.gz")
    assert capsys.readouterr().out == "wrote mask.nii.gz\n"


def test_a_clean_body_exits_0():
    ran = []
    assert run_guarded(lambda: ran.append(1)) == 0
    assert ran == [1]


def test_a_config_error_is_one_line_and_status_2(capsys):
    def body():
        raise ConfigError("--set seed=x", "seed", "not an integer")

    assert run_guarded(body) == EXIT_USER_ERROR == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --set seed=x")
    assert err.count("\n") == 1


def test_the_user_error_inside_a_wrapper_is_shown_not_the_wrapper(capsys):
    def body():
        inner = MedicalImageError(Path("scan.nii.gz"), "truncated gzip stream")
        msg = "applying transform <LoadCased>"
        raise RuntimeError(msg) from inner

    assert run_guarded(body) == 2
    assert capsys.readouterr().err == "error: scan.nii.gz: truncated gzip stream\n"


def test_an_mlflow_error_is_a_user_error(capsys):
    unreachable = type("MlflowException", (Exception,), {"__module__": "mlflow.exceptions"})

    def body():
        msg = "API request to http://mlflow:5000 failed"
        raise unreachable(msg)

    assert run_guarded(body) == 2
    assert capsys.readouterr().err == "error: MLflow: API request to http://mlflow:5000 failed\n"


def test_a_user_error_with_a_hint_prints_the_error_then_the_hint(capsys):
    def body():
        raise ConfigError("configs/base.yaml", "seed", "not an integer", hint="fix it there")

    assert run_guarded(body) == 2
    assert capsys.readouterr().err == (
        "error: configs/base.yaml: seed: not an integer\nhint: fix it there\n"
    )


def test_a_multi_line_mlflow_error_is_cut_to_its_first_line(capsys):
    refused = type("MlflowException", (Exception,), {"__module__": "mlflow.exceptions"})

    def body():
        msg = "\nRegistered model 'x' not found.\nDetails: a long server trace\n"
        raise refused(msg)

    assert run_guarded(body) == 2
    assert capsys.readouterr().err == "error: MLflow: Registered model 'x' not found.\n"


def test_a_bug_keeps_its_traceback():
    def body():
        raise KeyError("bug")

    with pytest.raises(KeyError, match="bug"):
        run_guarded(body)


def test_serve_in_production_without_api_key_refuses_before_mlflow(binding, monkeypatch, capsys):
    monkeypatch.setenv("MEDAI_ENV", "production")
    monkeypatch.delenv("MEDAI_API_KEYS", raising=False)
    monkeypatch.delenv("MEDAI_API_KEYS_FILE", raising=False)
    with pytest.raises(SystemExit) as caught:
        serve_main(binding, "cli_demo.api.main:create_app", [])
    assert caught.value.code == 2
    assert capsys.readouterr().err == (
        "error: refusing to start: production needs at least one API key "
        "(MEDAI_API_KEYS or MEDAI_API_KEYS_FILE)\n"
    )


def test_serve_turns_port_into_a_config_override(binding, capsys):
    assert serve_main(binding, "cli_demo.api.main:create_app", ["--port", "0"]) == 2
    assert capsys.readouterr().err.startswith("error: --set api.port=0: api.port: ")


def test_serve_without_a_registered_model_names_the_aliases_it_tried(binding, tmp_path, capsys):
    store = ["--set", f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}"]
    app = "cli_demo.api.main:create_app"

    assert serve_main(binding, app, store) == 2
    assert serve_main(binding, app, [*store, "--alias", "staging", "--backend", "torch"]) == 2

    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error")]
    both = "champion, challenger"
    assert errors == [
        f"error: registered model 'cli-demo' has no version with alias {both}; train one first",
        "error: registered model 'cli-demo' has no version with alias staging; train one first",
    ]


def test_serve_offers_only_the_known_backends(binding):
    with pytest.raises(SystemExit):
        serve_main(binding, "cli_demo.api.main:create_app", ["--backend", "tensorflow"])


@dataclass(frozen=True)
class _Outcome:
    comparison: tuple[str, ...]

    def summary(self) -> str:
        return "registered cli-demo version 3 as challenger"


@pytest.fixture
def kind(binding):
    """A kind made of recording stand-ins, its commands bound to project ``cli-demo``."""
    calls = []

    def train(project, settings, *, options=None):
        calls.append(("train", project, settings.seed))
        calls.append(("options", options.resume))
        return _Outcome(("beats champion v2", "first challenger"))

    def evaluate(project, argv):
        calls.append(("evaluate", project, argv))
        return 0

    def predict(project, argv):
        calls.append(("predict", project, argv))
        return 1

    project = SimpleNamespace(name="cli-demo", binding=binding)
    project_commands = kind_commands(train=train, evaluate=evaluate, predict=predict)
    return SimpleNamespace(
        commands=project_commands(project, "cli_demo.api.main:create_app"),
        project=project,
        calls=calls,
    )


def test_a_kinds_train_command_trains_on_the_resolved_config_and_prints_the_outcome(kind, capsys):
    assert kind.commands.train(["--set", "seed=5"]) == 0

    assert kind.calls == [("train", kind.project, 5), ("options", None)]
    assert capsys.readouterr().out == (
        "registered cli-demo version 3 as challenger\nbeats champion v2\nfirst challenger\n"
    )


@pytest.mark.parametrize(
    ("argv", "resume"),
    [(["--resume"], "latest"), (["--resume", "abc123"], "abc123"), (["--resume=auto"], "auto")],
)
def test_the_train_command_checks_and_passes_resume_to_the_kind(kind, argv, resume, monkeypatch):
    import medai.engine.run  # noqa: PLC0415 - torch and MLflow: this test only

    checked = []
    monkeypatch.setattr(medai.engine.run, "check_resume", lambda *args: checked.append(args[0]))
    assert kind.commands.train(argv) == 0

    assert checked == [resume]
    assert kind.calls[-1] == ("options", resume)


def test_resume_with_nothing_to_resume_stops_in_one_line_before_training(
    kind, capsys, tmp_path, monkeypatch
):
    monkeypatch.setenv("MEDAI_CHECKPOINT_DIR", str(tmp_path / "checkpoints"))
    store = f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}"
    assert kind.commands.train(["--resume", "--set", store]) == 2

    assert kind.calls == []
    errors = [line for line in capsys.readouterr().err.splitlines() if "mlflow.store" not in line]
    expected = (
        "error: --resume: nothing to resume for cli-demo: no unfinished training run of this "
        f"config with a checkpoint under {tmp_path / 'checkpoints' / 'cli-demo'}"
    )
    assert errors == [expected]


@pytest.mark.parametrize(
    ("override", "says"),
    [("seed=x", "error: --set seed=x: seed: "), ("sed=1", "error: --set sed=1: sed: unknown key")],
)
def test_a_kinds_train_command_refuses_a_bad_config_in_one_line_before_training(
    kind, capsys, override, says
):
    assert kind.commands.train(["--set", override]) == 2

    assert kind.calls == []
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error")]
    assert len(errors) == 1
    assert errors[0].startswith(says)


def test_a_kinds_evaluate_and_predict_get_the_project_and_the_arguments(kind):
    assert kind.commands.evaluate(["--alias", "champion"]) == 0
    assert kind.commands.predict() == 1

    assert kind.calls == [
        ("evaluate", kind.project, ["--alias", "champion"]),
        ("predict", kind.project, None),
    ]


def test_a_kinds_serve_command_is_the_shared_one_on_the_projects_binding(kind, capsys):
    assert kind.commands.serve(["--port", "0"]) == 2
    assert capsys.readouterr().err.startswith("error: --set api.port=0: api.port: ")
