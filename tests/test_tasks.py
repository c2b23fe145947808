"""tasks.py: projects are discovered, unknown ones refused, work delegated to scripts and nox."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.runners import Result


class RecordingContext(Context):
    """An invoke context that records the commands a task would run.

    A command containing ``fail_on`` "exits" with ``status`` (2: a user error the script
    reported; 137: killed before it could say why).
    """

    def __init__(self, fail_on: str | None = None, status: int = 2) -> None:
        super().__init__()
        self.commands: list[str] = []
        self.fail_on = fail_on
        self.status = status

    def run(self, command: str, **kwargs):  # noqa: ARG002 - same signature as Context.run
        self.commands.append(command)
        failed = self.fail_on is not None and self.fail_on in command
        return Result(command=command, exited=self.status if failed else 0)


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
    context = RecordingContext()
    with pytest.raises(Exit) as caught:
        tasks.train(context, project="ct-sgg")
    assert caught.value.code == 2
    known = ", ".join(tasks.known_projects())
    assert str(caught.value.message) == f"error: unknown project 'ct-sgg'; known: {known}, all"
    assert context.commands == []


def test_all_is_refused_where_one_project_is_needed(tasks):
    with pytest.raises(Exit, match=rf"known: {', '.join(tasks.known_projects())}$"):
        tasks.predict(RecordingContext(), project="all", input_="in.nii.gz", output="out.nii.gz")


GROUPS = {"quality", "model", "release", "projects"}


def test_every_task_keeps_its_short_name_and_belongs_to_one_group(tasks):
    names = set(tasks.ns.task_names)
    short = {name for name in names if "." not in name}
    grouped = sorted(name.split(".") for name in names - short)
    assert {group for group, _ in grouped} == GROUPS
    assert sorted(task for _, task in grouped) == sorted(short)  # each in exactly one group
    assert {"train", "update-template", "deploy", "check", "new"} <= short
    for group, name in grouped:  # the same task object under both names
        assert tasks.ns.collections[group][name] is tasks.ns[name]


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


def _invoke(repo_root, *args, environ=None):
    return subprocess.run(
        [sys.executable, "-m", "invoke", *args],
        cwd=repo_root,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={**os.environ, "MEDAI_ENV": "development", **(environ or {})},
    )


def test_invoke_command_line_refuses_unknown_project_with_one_line(repo_root):
    result = _invoke(repo_root, "train", "--project=nope")

    assert result.returncode == 2
    known = ", ".join(sorted(p.parent.name for p in repo_root.glob("projects/*/pyproject.toml")))
    assert result.stderr.splitlines() == [f"error: unknown project 'nope'; known: {known}, all"]
    assert result.stdout == ""


def _ct_seg_train_keys() -> str:
    from ct_seg.settings import CtSegSettings  # noqa: PLC0415 - a project of the workspace

    fields = CtSegSettings.model_fields["train"].annotation.model_fields
    return ", ".join(sorted(info.alias or name for name, info in fields.items()))


def test_a_failing_train_prints_its_error_once_and_nothing_else(repo_root):
    result = _invoke(repo_root, "train", "--project=ct-seg", "--set", "train.epochz=1")

    assert result.returncode == 2
    expected = (
        "error: --set train.epochz=1: train.epochz: unknown key; did you mean 'epochs'? "
        f"(allowed here: {_ct_seg_train_keys()})"
    )
    assert result.stderr.splitlines() == [expected]
    assert result.stdout == ""


def test_a_failing_train_with_a_hint_prints_the_error_and_the_hint(repo_root):
    result = _invoke(repo_root, "train", "--project=ct-seg", environ={"MEDAI__TRAIN__EPOCHS": "0"})

    assert result.returncode == 2
    error = (
        "error: environment variable MEDAI__TRAIN__EPOCHS: train.epochs: Input should be "
        "greater than or equal to 1 (got 0)"
    )
    hint = "hint: check MEDAI__TRAIN__EPOCHS in this environment (fix or unset it)"
    assert result.stderr.splitlines() == [error, hint]
    assert result.stdout == ""


def test_a_failing_train_of_all_projects_prints_the_error_once_then_the_summary(repo_root):
    result = _invoke(repo_root, "train", "--project=all", "--set", "train.epochz=1")

    first, *others = sorted(p.parent.name for p in repo_root.glob("projects/*/pyproject.toml"))
    assert result.returncode == 2
    (error,) = result.stderr.splitlines()
    assert error.startswith("error: --set train.epochz=1: train.epochz: unknown key")
    assert result.stdout.splitlines() == [
        f"{first}: train FAILED (exit status 2)",
        *(f"{name}: train not run" for name in others),
    ]


def test_serve_runs_the_project_serve_script_with_its_options(tasks, repo_root):
    context = RecordingContext()
    tasks.serve(context, project="ct-seg", port=8001, backend="torch", set_=["api.host=0.0.0.0"])
    (command,) = context.commands
    assert str(repo_root / "projects" / "ct-seg" / "scripts" / "serve.py") in command
    assert command.endswith("--set api.host=0.0.0.0 --port 8001 --backend torch")


def test_serve_passes_a_version_named_by_number_to_the_serve_script(tasks):
    context = RecordingContext()
    tasks.serve(context, project="ct-seg", version=7)
    (command,) = context.commands
    assert command.endswith("serve.py --version 7")


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


def test_evaluate_all_stops_at_the_first_failure_with_a_summary_that_repeats_no_error(
    three_projects, capsys
):
    context = RecordingContext(fail_on="/projects/b/", status=2)

    with pytest.raises(Exit) as caught:
        three_projects.evaluate(context, project="all", alias="champion")

    assert caught.value.code == 2
    assert caught.value.message is None  # the script printed its error; invoke adds nothing
    assert len(context.commands) == 2
    assert context.commands[0].endswith("evaluate.py --alias champion")
    summary = capsys.readouterr().out.splitlines()
    assert summary[1:] == ["b: evaluate FAILED (exit status 2)", "c: evaluate not run"]
    assert summary[0].startswith("a: evaluate ok (")


def test_one_failing_project_prints_no_summary_and_adds_no_line(three_projects, capsys):
    with pytest.raises(Exit) as caught:
        three_projects.train(RecordingContext(fail_on="train.py"), project="a")

    assert (caught.value.code, caught.value.message) == (2, None)
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("status", [1, 2])
def test_a_refused_or_wrong_deploy_adds_no_line_to_what_the_script_said(tasks, status):
    context = RecordingContext(fail_on="deploy.py", status=status)

    with pytest.raises(Exit) as caught:
        tasks.deploy(context, project="ct-seg")

    assert (caught.value.code, caught.value.message) == (status, None)


def test_a_script_killed_before_it_could_say_why_gets_one_line_from_the_task(three_projects):
    with pytest.raises(Exit) as caught:
        three_projects.train(RecordingContext(fail_on="train.py", status=137), project="b")

    assert caught.value.code == 137
    assert caught.value.message == (
        "error: train for project 'b' stopped with exit status 137 before it could say why "
        "(killed, e.g. out of memory?)"
    )


def test_a_project_without_the_script_stops_all_with_its_name(three_projects, tmp_path, capsys):
    (tmp_path / "projects" / "a" / "scripts" / "train.py").unlink()

    with pytest.raises(Exit, match=r"^error: project 'a' has no scripts/train.py$"):
        three_projects.train(RecordingContext(), project="all")

    assert capsys.readouterr().out.splitlines() == [
        "a: train FAILED (exit status 2)",
        "b: train not run",
        "c: train not run",
    ]


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


class DeployingContext(RecordingContext):
    """Runs the deploy script as one that decided ``result`` (medai's writer) and exited 0.

    ``result`` None: the script exited 0 but wrote no result file.
    """

    def __init__(self, result) -> None:
        super().__init__()
        self.result = result

    def run(self, command: str, **kwargs):
        if "deploy.py" in command and self.result is not None:
            words = shlex.split(command)
            self.result.write(Path(words[words.index("--result-file") + 1]))
        return super().run(command, **kwargs)


def _outcome(outcome: str, version: str | None):
    from medai.deployment.cli import DeployResult  # noqa: PLC0415 - the script's own writer

    return DeployResult("ct-seg", "staging", outcome, version, version or "3", "a reason")


needs_kubectl = pytest.mark.skipif(
    shutil.which("kubectl") is None and shutil.which("kustomize") is None,
    reason="kubectl (or kustomize) is not on PATH; rendering the manifests needs it",
)


@needs_kubectl
@pytest.mark.parametrize("outcome", ["promoted", "already_champion"])
def test_deploy_annotates_the_manifests_with_the_champion_the_script_wrote(tasks, capsys, outcome):
    context = DeployingContext(_outcome(outcome, "12"))

    tasks.deploy(context, project="ct-seg", set_=["train.epochs=1"])

    (command,) = context.commands
    assert "--env staging --result-file " in command
    assert command.endswith("--set train.epochs=1")
    out = capsys.readouterr().out
    assert out.startswith("# would apply to staging (kubectl apply -f -;")
    deployments = [
        doc for doc in yaml.safe_load_all(out.split("\n", 1)[1]) if doc["kind"] == "Deployment"
    ]
    (deployment,) = deployments
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["medai/model-version"] == "12"


def test_deploy_that_wrote_no_result_stops_with_one_line(tasks):
    with pytest.raises(Exit) as caught:
        tasks.deploy(DeployingContext(None), project="ct-seg")

    assert caught.value.code == 2
    assert str(caught.value.message).startswith("the deploy script wrote no result file (")


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


def test_the_grouped_name_runs_the_same_task_as_the_short_one(repo_root):
    short = _invoke(repo_root, "train", "--project=nope")
    grouped = _invoke(repo_root, "model.train", "--project=nope")

    assert short.returncode == grouped.returncode == 2
    assert grouped.stderr == short.stderr
    assert grouped.stderr.startswith("error: unknown project 'nope'; known: ")
    listed = _invoke(repo_root, "--list").stdout.split()
    assert {"update-template", "projects.update-template", "deploy", "release.deploy"} <= set(
        listed
    )


def test_the_structure_doc_lists_the_standard_makefile_targets_and_each_is_a_task(tasks, repo_root):
    from tools.structure_check import MAKE_TARGETS  # noqa: PLC0415 - the check's own list

    doc = " ".join((repo_root / "docs" / "project-structure.md").read_text().split())
    listed = re.search(r"a target for each standard job \(([^:]+):", doc)
    assert listed is not None, "docs/project-structure.md no longer lists the Makefile targets"
    assert [target.strip() for target in listed[1].split(",")] == list(MAKE_TARGETS)
    assert set(MAKE_TARGETS) <= set(tasks.ns.task_names)


def test_train_with_nproc_runs_the_script_under_torchrun_standalone(tasks, repo_root):
    context = RecordingContext()
    tasks.train(context, project="ct-seg", nproc=2, set_=["train.epochs=2"], resume="abc")
    (command,) = context.commands
    argv = shlex.split(command)
    assert argv[1:5] == ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]
    assert argv[5] == str(repo_root / "projects" / "ct-seg" / "scripts" / "train.py")
    assert argv[6:] == ["--set", "train.epochs=2", "--resume=abc"]


def test_train_on_several_machines_passes_the_rendezvous_through(tasks):
    context = RecordingContext()
    tasks.train(context, project="ct-seg", nproc=4, nnodes=2, node_rank=1, rdzv_endpoint="10.0.0.5")
    argv = shlex.split(context.commands[0])
    assert argv[3:8] == [
        "--nproc-per-node=4",
        "--nnodes=2",
        "--node-rank=1",
        "--rdzv-backend=c10d",
        "--rdzv-endpoint=10.0.0.5:29400",
    ]


def test_train_resume_without_a_value_asks_for_the_latest_run(tasks):
    context = RecordingContext()
    tasks.train(context, project="ct-seg", resume=True)
    assert context.commands[0].endswith("train.py --resume")


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"nproc": 0}, "error: --nproc must be 1 to 64 processes per machine; got 0"),
        ({"nnodes": 2}, "error: --nnodes=2 needs --rdzv-endpoint=HOST:PORT"),
        ({"nnodes": 2, "node_rank": 2, "rdzv_endpoint": "h"}, "error: --node-rank must be 0 to 1"),
        ({"rdzv_endpoint": "host:99999"}, "error: --rdzv-endpoint must be HOST or HOST:PORT"),
        ({"rdzv_endpoint": "bad host"}, "error: --rdzv-endpoint must be HOST or HOST:PORT"),
        ({"on": "moon"}, "error: --on must be 'here' or 'kubernetes'; got 'moon'"),
        ({"on": "kubernetes"}, "error: --on=kubernetes needs --nnodes=N"),
    ],
)
def test_bad_train_options_stop_with_one_line_before_anything_runs(tasks, options, says):
    context = RecordingContext()
    with pytest.raises(Exit) as stopped:
        tasks.train(context, project="ct-seg", **options)
    assert stopped.value.code == 2
    assert str(stopped.value.message).startswith(says)
    assert context.commands == []


def test_train_on_kubernetes_prints_the_training_job(tasks, capsys):
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl renders the manifests (installed by .ci/run)")
    context = RecordingContext()
    tasks.train(context, project="ct-seg", on="kubernetes", nnodes=3, tag="v1")
    out = capsys.readouterr().out
    assert out.startswith("# the training Job")
    documents = [d for d in yaml.safe_load_all(out) if d]
    (job,) = [d for d in documents if d["kind"] == "Job"]
    assert job["spec"]["completionMode"] == "Indexed"
    assert job["spec"]["parallelism"] == job["spec"]["completions"] == 3
    assert context.commands == []


def test_tune_runs_the_search_module_with_every_option(tasks):
    context = RecordingContext()
    tasks.tune(
        context,
        project="cxr-cls",
        trials=6,
        workers=2,
        storage="postgresql://u@h/db",
        study="s1",
        register_best=True,
        set_=["train.epochs=2"],
    )
    (command,) = context.commands
    assert shlex.split(command)[1:] == [
        "-m", "medai.tuning", "--project", "cxr-cls", "--trials", "6", "--workers", "2",
        "--storage", "postgresql://u@h/db", "--study", "s1", "--register-best",
        "--set", "train.epochs=2",
    ]  # fmt: skip
