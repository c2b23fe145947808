"""tasks.py: projects are discovered, unknown ones refused, work delegated to scripts and nox."""

from __future__ import annotations

import subprocess
import sys

import pytest
from invoke.context import Context
from invoke.exceptions import Exit


class RecordingContext(Context):
    """An invoke context that records the commands a task would run."""

    def __init__(self) -> None:
        super().__init__()
        self.commands: list[str] = []

    def run(self, command: str, **kwargs):  # noqa: ARG002 - same signature as Context.run
        self.commands.append(command)


def test_projects_are_discovered_from_the_projects_folder(tasks, repo_root):
    expected = sorted(p.parent.name for p in repo_root.glob("projects/*/pyproject.toml"))
    assert tasks.known_projects() == expected
    assert "ct-seg" in expected


def test_unknown_project_stops_with_status_2_and_the_known_names(tasks):
    with pytest.raises(Exit) as caught:
        tasks.resolve_projects("ct-sgg", allow_all=True)
    assert caught.value.code == 2
    known = ", ".join(tasks.known_projects())
    assert str(caught.value.message) == f"unknown project 'ct-sgg'; known: {known}, all"


def test_all_is_refused_where_one_project_is_needed(tasks):
    with pytest.raises(Exit, match=rf"known: {', '.join(tasks.known_projects())}$"):
        tasks.resolve_projects("all", allow_all=False)


def test_train_runs_the_project_script_with_every_override(tasks, repo_root):
    context = RecordingContext()
    tasks.train(context, project="ct-seg", set_=["train.epochs=2", "data.dataset_dir=/data/my set"])
    (command,) = context.commands
    assert str(repo_root / "projects" / "ct-seg" / "scripts" / "train.py") in command
    assert command.endswith("--set train.epochs=2 --set 'data.dataset_dir=/data/my set'")


def test_predict_quotes_paths_and_passes_the_alias(tasks):
    context = RecordingContext()
    tasks.predict(
        context, project="ct-seg", input_="my scan.nii.gz", output="m.nii.gz", alias="champion"
    )
    (command,) = context.commands
    assert "predict.py 'my scan.nii.gz' m.nii.gz --alias champion" in command


def test_checks_go_through_nox_for_one_target_or_all(tasks):
    context = RecordingContext()
    tasks.test(context, project="ct-seg", pytest="-m 'not integration'")
    tasks.lint(context)
    tasks.typecheck(context, project="shared")
    assert context.commands[0].endswith("-s tests -- ct-seg -m 'not integration'")
    assert context.commands[1].endswith("-s lint --")
    assert context.commands[2].endswith("-s typecheck -- shared")


def test_invoke_command_line_refuses_unknown_project(repo_root):
    result = subprocess.run(
        [sys.executable, "-m", "invoke", "train", "--project=nope"],
        cwd=repo_root,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 2
    known = ", ".join(sorted(p.parent.name for p in repo_root.glob("projects/*/pyproject.toml")))
    assert f"unknown project 'nope'; known: {known}, all" in result.stderr + result.stdout


def test_serve_runs_the_project_serve_script_with_its_options(tasks, repo_root):
    context = RecordingContext()
    tasks.serve(context, project="ct-seg", port=8001, backend="torch", set_=["api.host=0.0.0.0"])
    (command,) = context.commands
    assert str(repo_root / "projects" / "ct-seg" / "scripts" / "serve.py") in command
    assert command.endswith("--set api.host=0.0.0.0 --port 8001 --backend torch")
