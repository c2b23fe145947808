"""tasks.py: projects are discovered, unknown ones refused, work delegated to scripts and nox."""

from __future__ import annotations

import subprocess
import sys

import pytest
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.runners import Result


class RecordingContext(Context):
    """An invoke context that records the commands a task would run.

    A command containing ``fail_on`` "exits" with status 3, as a failing script would.
    """

    def __init__(self, fail_on: str | None = None) -> None:
        super().__init__()
        self.commands: list[str] = []
        self.fail_on = fail_on

    def run(self, command: str, **kwargs):  # noqa: ARG002 - same signature as Context.run
        self.commands.append(command)
        failed = self.fail_on is not None and self.fail_on in command
        return Result(command=command, exited=3 if failed else 0)


@pytest.fixture
def three_projects(tasks, tmp_path, monkeypatch):
    """The tasks module pointed at a root with projects a, b and c, each with its scripts."""
    for name in ("a", "b", "c"):
        scripts = tmp_path / "projects" / name / "scripts"
        scripts.mkdir(parents=True)
        (tmp_path / "projects" / name / "pyproject.toml").write_text(
            f'[project]\nname = "{name}"\n'
        )
        for script in ("train", "evaluate"):
            (scripts / f"{script}.py").write_text("")
    monkeypatch.setattr(tasks, "ROOT", tmp_path)
    return tasks


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


def test_train_all_runs_every_project_in_turn_with_a_summary_line_each(three_projects, capsys):
    context = RecordingContext()
    three_projects.train(context, project="all", set_=["train.epochs=1"])

    assert [c.split("/projects/")[1].split("/")[0] for c in context.commands] == ["a", "b", "c"]
    assert all(c.endswith("--set train.epochs=1") for c in context.commands)
    summary = capsys.readouterr().out.splitlines()
    assert [line.split(" (")[0] for line in summary] == [
        "a: train ok",
        "b: train ok",
        "c: train ok",
    ]


def test_evaluate_all_stops_at_the_first_failure_and_names_the_project(three_projects, capsys):
    context = RecordingContext(fail_on="/projects/b/")

    with pytest.raises(Exit) as caught:
        three_projects.evaluate(context, project="all", alias="champion")

    assert caught.value.code == 3
    assert caught.value.message == "evaluate failed for project 'b' (exit status 3)"
    assert len(context.commands) == 2
    assert context.commands[0].endswith("evaluate.py --alias champion")
    summary = capsys.readouterr().out.splitlines()
    assert summary[1:] == [
        "b: evaluate FAILED (evaluate failed for project 'b' (exit status 3))",
        "c: evaluate not run",
    ]
    assert summary[0].startswith("a: evaluate ok (")


def test_a_project_without_the_script_stops_all_with_its_name(three_projects, tmp_path, capsys):
    (tmp_path / "projects" / "a" / "scripts" / "train.py").unlink()

    with pytest.raises(Exit, match=r"^project 'a' has no scripts/train.py$"):
        three_projects.train(RecordingContext(), project="all")

    assert capsys.readouterr().out.splitlines()[-1] == "c: train not run"


def test_requirements_task_rewrites_both_files_from_the_lock(tasks, demo_workspace, monkeypatch):
    from tools.structure_check import check_requirements, read_project  # noqa: PLC0415

    project = demo_workspace / "projects" / "demo-proj"
    (project / "requirements.txt").write_text("stale\n")
    (project / "requirements-dev.txt").unlink()
    monkeypatch.setattr(tasks, "ROOT", demo_workspace)

    tasks.requirements(RecordingContext())

    assert check_requirements(demo_workspace, read_project(demo_workspace, "demo-proj")) == []
    assert (
        (project / "requirements.txt")
        .read_text()
        .startswith("# Generated from uv.lock by `uv run invoke requirements --project=demo-proj`")
    )


def test_check_task_prints_every_project_and_exits_1_on_problems(repo_root):
    result = subprocess.run(
        [sys.executable, "-m", "invoke", "check"],
        cwd=repo_root,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    lines = result.stdout.splitlines()
    projects = sorted(p.parent.name for p in repo_root.glob("projects/*/pyproject.toml"))
    assert [line.split(":")[0] for line in lines if not line.startswith(" ")][:-1] == projects
    failed = lines[-1].startswith("structure check failed")
    assert lines[-1].startswith("structure check passed") or failed
    assert result.returncode == (1 if failed else 0)


@pytest.mark.parametrize(
    ("said", "version"),
    [
        ("evaluating x\npromoted ct-seg v12 to champion (staging): first deployment\n", "12"),
        ("cxr-cls v3 is already champion; nothing to deploy\n", "3"),
        ("refused: challenger v2 does not beat champion v1\n", None),
        ("", None),
    ],
)
def test_the_champion_version_is_read_from_what_deploy_said(tasks, said, version):
    assert tasks.champion_version_said(said) == version


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"tag": "abc1234"}, "--apply needs --registry and --tag"),
        ({"registry": "registry.example.org/medai"}, "--apply needs --registry and --tag"),
        ({"tag": "abc1234", "registry": "Registry/Medai"}, "not a valid image repository"),
        ({"tag": "abc1234", "registry": "registry.example.org/medai", "env": "moon"}, "moon"),
    ],
)
def test_apply_is_refused_before_the_gate_when_it_could_not_be_applied(tasks, options, message):
    context = RecordingContext()
    with pytest.raises(Exit, match=message) as stopped:
        tasks.deploy(context, project="ct-seg", apply=True, **options)
    assert stopped.value.code == 2
    assert not any("deploy.py" in command for command in context.commands)  # no gate ran


def test_apply_without_a_cluster_context_is_refused_before_the_gate(tasks):
    context = RecordingContext(fail_on="kubectl config current-context")
    with pytest.raises(Exit, match="no current cluster context; nothing promoted"):
        tasks.deploy(
            context, project="ct-seg", apply=True, tag="abc1234", registry="reg.example.org/m"
        )
    assert context.commands == ["kubectl config current-context"]
