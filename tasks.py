"""Invoke tasks of the monorepo; each takes ``--project=NAME`` (a folder under ``projects/``).

    uv run invoke --list
    uv run invoke train --project=ct-seg --set train.epochs=2
    uv run invoke test --project=all
    uv run invoke check              # every project against the standard layout
    uv run invoke new --project=mri-seg --kind=segmentation   # a new project from template/

Tasks only parse their options and delegate: checks go through nox (same venvs as CI),
project work through the project's own ``scripts/`` entry points, everything else to
``tools/``. They are grouped by concern (``quality``, ``model``, ``release``,
``projects``: ``invoke --list quality``), and every task keeps its short name at the
root as well, so ``invoke train`` and ``invoke model.train`` are the same task.
"""

from __future__ import annotations

import functools
import io
import shlex
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task
from tools import new_project, release, template_update, training_launch
from tools.deploy_result import read_deploy_outcome
from tools.errors import ToolError
from tools.new_project import known_kinds
from tools.projects import known_projects as projects_in
from tools.requirements import ExportError, write_requirements
from tools.script_runs import project_script, run_in_turn, script_failure
from tools.structure_check import check_projects, format_report, load_task_names, read_project
from tools.targets import ALL, DEFAULT_BASE, check_targets
from tools.targets import resolve_projects as resolve_targets
from tools.template_git import template_commit

ROOT = Path(__file__).resolve().parent
P = ParamSpec("P")


def _stops(body: Callable[P, None]) -> Callable[P, None]:
    """A task body whose ``ToolError`` becomes Invoke's ``Exit``: its line, its status."""

    @functools.wraps(body)
    def run(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            body(*args, **kwargs)
        except ToolError as exc:
            raise Exit(exc.message, code=exc.code) from None

    return run


def known_projects() -> list[str]:
    """Every folder under ``projects/`` that has a ``pyproject.toml``."""
    return projects_in(ROOT)


def resolve_projects(project: str, *, allow_all: bool, extra: tuple[str, ...] = ()) -> list[str]:
    """Expand ``--project`` (tools/targets.py); an unknown name stops with the known ones.

    Raises:
        ToolError: Status 2 and a one-line message.
    """
    return resolve_targets(ROOT, project, allow_all=allow_all, extra=extra)


def _overrides(values: list[str] | None) -> str:
    return " ".join(f"--set {shlex.quote(v)}" for v in values or [])


def _script(c: Context, project: str, name: str, args: str = "", *, task_name: str = "") -> None:
    """Run ``projects/<project>/scripts/<name>.py`` (for the task ``task_name``, default ``name``).

    Raises:
        ToolError: The script is missing or failed (tools/script_runs.py says with what).
    """
    script = project_script(ROOT, project, name)
    result = c.run(
        f"{shlex.quote(sys.executable)} {shlex.quote(str(script))} {args}".strip(),
        pty=sys.stdout.isatty(),
        warn=True,
    )
    if result is not None and result.failed:
        raise script_failure(result.exited, project, task_name or name)


def _each_project(c: Context, name: str, projects: list[str], args: str) -> None:
    run_in_turn(projects, name, lambda project: _script(c, project, name, args))


def _nox(c: Context, session: str, project: str, base: str, extra: str = "") -> None:
    selection = check_targets(ROOT, project, base)
    for note in selection.notes:
        print(note)  # noqa: T201 - why these targets
    if selection.run:
        names = " ".join(shlex.quote(p) for p in selection.targets)
        nox = f"{shlex.quote(sys.executable)} -m nox --reuse-venv=yes"
        c.run(f"{nox} -s {session} -- {names} {extra}".strip())


# ----------------------------------------------------------------------------- model


@task(
    help={
        "project": "project folder under projects/, or 'all'",
        "set": "config override KEY=VALUE (repeatable)",
        "nproc": "processes on this machine (default 1); N > 1 runs torchrun with DDP "
        "(gloo on CPU, NCCL on CUDA: one GPU each)",
        "nnodes": "machines (torchrun --nnodes; default 1); with --on=kubernetes: pods",
        "node-rank": "this machine's rank, 0 .. nnodes-1 (torchrun --node-rank)",
        "rdzv-endpoint": "HOST[:PORT] where the machines meet (torchrun c10d; several machines)",
        "resume": "continue a killed or failed run in the same MLflow run: the latest "
        "unfinished one (--resume), RUN_ID (--resume=RUN_ID), or 'auto'",
        "on": "where to train: here (default) or kubernetes (print the training Job's "
        "manifests; --apply applies them)",
        "gpus": "with --on=kubernetes: GPUs per pod (default 0: CPU)",
        "tag": "with --on=kubernetes: the training image's tag (default: the short git commit)",
        "registry": "with --on=kubernetes: the image name prefix (default medai)",
        "apply": "with --on=kubernetes: kubectl apply the manifests instead of printing them",
    },
    iterable=["set_"],
    optional=["resume"],
)
@_stops
def train(
    c: Context,
    project: str,
    set_: list[str] | None = None,
    nproc: int = 1,
    nnodes: int = 0,
    node_rank: int = 0,
    rdzv_endpoint: str = "",
    resume: bool | str = False,  # noqa: FBT001, FBT002 - an optional-value invoke flag
    on: str = "here",
    gpus: int = 0,
    tag: str = "",
    registry: str = "",
    apply: bool = False,  # noqa: FBT001, FBT002 - an invoke flag
) -> None:
    """Train a project's model, track the run in MLflow and register it as challenger.

    `--nproc=N` trains with N processes (torchrun, DDP); `--nnodes`, `--node-rank` and
    `--rdzv-endpoint` train across machines; `--resume` continues a killed run;
    `--on=kubernetes --nnodes=N` prints (or `--apply`s) a training Job of N pods.
    """
    script_args = _overrides(set_)
    if resume is not False:
        script_args += " --resume" if resume is True else f" --resume={shlex.quote(str(resume))}"
    if on == "kubernetes":
        _train_on_kubernetes(c, project, nnodes, gpus, tag, registry, set_ or [], apply=apply)
        return
    if on != "here":
        raise ToolError(f"error: --on must be 'here' or 'kubernetes'; got {on!r}")
    launch = training_launch.check_launch(nproc, nnodes or 1, node_rank, rdzv_endpoint)
    projects = resolve_projects(project, allow_all=True)

    def run_one(name: str) -> None:
        script = project_script(ROOT, name, "train")
        command = training_launch.training_command(
            sys.executable, script, launch, shlex.split(script_args)
        )
        result = c.run(shlex.join(command), pty=sys.stdout.isatty(), warn=True)
        if result is not None and result.failed:
            raise script_failure(result.exited, name, "train")

    run_in_turn(projects, "train", run_one)


def _train_on_kubernetes(
    c: Context,
    project: str,
    nnodes: int,
    gpus: int,
    tag: str,
    registry: str,
    overrides: list[str],
    *,
    apply: bool,
) -> None:
    """Render the project's training Job (tools/training_jobs.py); print or apply it."""
    from tools import training_jobs  # noqa: PLC0415 - kustomize and YAML, this path only

    (name,) = resolve_projects(project, allow_all=False)
    # With --apply, refused before the cluster is asked unless --registry names a pushed image.
    render = training_jobs.check_apply if apply else training_jobs.training_manifests
    manifests = render(
        ROOT, name, nnodes=nnodes, gpus=gpus, tag=tag, registry=registry, overrides=overrides
    )
    if not apply:
        print(  # noqa: T201 - the task's report
            "# the training Job (kubectl apply -f -; run with --apply to apply):\n" + manifests,
            end="",
        )
        return
    context = c.run("kubectl config current-context", hide=True, warn=True)
    if context is None or context.failed:
        raise ToolError(
            "error: --apply needs a kubectl context (kubectl config current-context found "
            "none); nothing applied"
        )
    result = c.run("kubectl apply -f -", in_stream=io.StringIO(manifests), warn=True)
    if result is None or result.failed:
        job = training_jobs.job_name(name)
        namespace = training_jobs.training_namespace(ROOT)
        raise ToolError(
            f"error: kubectl apply of {name}'s training Job failed; a Job's pod template "
            f"cannot change: delete the previous one first (kubectl -n {namespace} delete "
            f"job {job}); an unfinished run continues with --resume=auto",
            1,
        )


@task(
    help={
        "project": "project folder under projects/",
        "trials": "trials that finish (complete or pruned), in all",
        "workers": "worker processes on this machine (default 1)",
        "storage": "the Optuna study's database: an SQLAlchemy URL, e.g. "
        "postgresql://user@host/db (default: sqlite optuna.db at the repo root)",
        "study": "the study's name (default: <project>-<date>-<time>); the same name and "
        "--storage on another machine joins it",
        "register-best": "train the best trial's config once more and register it as challenger",
        "set": "config override KEY=VALUE for every trial (repeatable)",
    },
    iterable=["set_"],
)
@_stops
def tune(
    c: Context,
    project: str,
    trials: int,
    workers: int = 1,
    storage: str = "",
    study: str = "",
    register_best: bool = False,  # noqa: FBT001, FBT002 - an invoke flag
    set_: list[str] | None = None,
) -> None:
    """Search the project's `tune.space` with Optuna (TPE, median pruning), in MLflow.

    Each trial is an MLflow child run under one parent run; the study lives in an RDB
    storage that workers on this and other machines share. The best parameters are
    printed and written to a file; docs/tuning.md.
    """
    (name,) = resolve_projects(project, allow_all=False)
    argv = [sys.executable, "-m", "medai.tuning", "--project", name, "--trials", str(trials)]
    argv += ["--workers", str(workers)]
    if storage:
        argv += ["--storage", storage]
    if study:
        argv += ["--study", study]
    if register_best:
        argv.append("--register-best")
    for override in set_ or []:
        argv += ["--set", override]
    result = c.run(shlex.join(argv), pty=sys.stdout.isatty(), warn=True)
    if result is not None and result.failed:
        raise script_failure(result.exited, name, "tune")


@task(
    help={
        "project": "project folder under projects/, or 'all'",
        "alias": "registry alias (default: champion; in development else challenger, warned)",
        "set": "config override KEY=VALUE (repeatable)",
    },
    iterable=["set_"],
)
@_stops
def evaluate(c: Context, project: str, alias: str = "", set_: list[str] | None = None) -> None:
    """Evaluate the registered model: per-case metrics, 95% CIs, overlays, all in MLflow."""
    alias_arg = f"--alias {shlex.quote(alias)}" if alias else ""
    projects = resolve_projects(project, allow_all=True)
    _each_project(c, "evaluate", projects, f"{alias_arg} {_overrides(set_)}".strip())


@task(
    help={
        "project": "project folder under projects/",
        "input": "input image (e.g. a .nii.gz file or a DICOM series folder)",
        "output": "where to write the prediction",
        "alias": "registry alias (default: champion; in development else challenger, warned)",
        "set": "config override KEY=VALUE (repeatable)",
    },
    iterable=["set_"],
)
@_stops
def predict(
    c: Context,
    project: str,
    input_: str,
    output: str,
    alias: str = "",
    set_: list[str] | None = None,
) -> None:
    """Run the registered model on one input and write its prediction."""
    (name,) = resolve_projects(project, allow_all=False)
    alias_arg = f"--alias {shlex.quote(alias)}" if alias else ""
    _script(
        c,
        name,
        "predict",
        f"{shlex.quote(input_)} {shlex.quote(output)} {alias_arg} {_overrides(set_)}",
    )


@task(
    help={
        "project": "project folder under projects/",
        "port": "port to listen on (default: api.port from api_configs/fastapi.yaml)",
        "backend": "onnx (default: ONNX Runtime, no torch) or torch",
        "alias": "registry alias (default: champion; outside production the challenger "
        "when there is none, with a warning)",
        "version": "serve this registered version number instead of an alias",
        "set": "config override KEY=VALUE (repeatable), e.g. api.host=0.0.0.0",
    },
    iterable=["set_"],
)
@_stops
def serve(
    c: Context,
    project: str,
    port: int = 0,
    backend: str = "",
    alias: str = "",
    version: int = 0,
    set_: list[str] | None = None,
) -> None:
    """Materialize the registered champion (or --alias/--version) and serve it over HTTP."""
    (name,) = resolve_projects(project, allow_all=False)
    args = [_overrides(set_)]
    if port:
        args.append(f"--port {port}")
    if backend:
        args.append(f"--backend {shlex.quote(backend)}")
    if alias:
        args.append(f"--alias {shlex.quote(alias)}")
    if version:
        args.append(f"--version {version}")
    _script(c, name, "serve", " ".join(a for a in args if a))


# ----------------------------------------------------------------------------- release


@task(
    help={
        "project": "project folder under projects/",
        "env": "deployment environment: staging (default) or production",
        "set": "config override KEY=VALUE (repeatable)",
        "tag": "image tag in the manifests (default: the short git commit)",
        "registry": "image name prefix in the manifests (default medai; required with --apply)",
        "apply": "kubectl apply the manifests after a promotion (default: print them); "
        "needs --registry, --tag and a kubectl context, checked before the gate",
    },
    iterable=["set_"],
)
@_stops
def deploy(
    c: Context,
    project: str,
    env: str = "staging",
    set_: list[str] | None = None,
    tag: str = "",
    registry: str = "",
    apply: bool = False,  # noqa: FBT001, FBT002 - an invoke flag
) -> None:
    """Promote the challenger to champion if it beats the champion; print what would be applied.

    Both versions are evaluated on the project's evaluation set; the decision, their
    metrics, the commit and who deployed are recorded on the model version. A refusal
    says why and moves nothing. After a promotion the environment's Kubernetes manifests
    (deploy/kubernetes, rendered for the project) are printed; `--apply` pipes them to
    `kubectl apply` against the current cluster context instead.
    """
    (name,) = resolve_projects(project, allow_all=False)
    if apply:  # before the gate: a promotion that cannot be applied is not made
        release.check_apply_options(ROOT, name, env, tag, registry)
        context = c.run("kubectl config current-context", hide=True, warn=True)
        if context is None or context.failed:
            raise ToolError(release.NO_CLUSTER)
    with tempfile.TemporaryDirectory(prefix="medai-deploy-") as folder:
        result_file = Path(folder) / "result.json"
        options = f"--env {shlex.quote(env)} --result-file {shlex.quote(str(result_file))}"
        _script(c, name, "deploy", f"{options} {_overrides(set_)}".strip())
        outcome = read_deploy_outcome(result_file)
    try:  # promoted (or already champion); the gate has checked --env
        manifests = release.manifests_for(
            ROOT, name, env, tag=tag, registry=registry, model_version=outcome.version
        )
    except release.ManifestsError as exc:
        print(f"promoted; manifests not printed: {exc.reason}", file=sys.stderr)  # noqa: T201
        return
    _apply_or_print(c, manifests, name, env, apply=apply)


def _apply_or_print(c: Context, manifests: str, project: str, env: str, *, apply: bool) -> None:
    if apply:
        result = c.run("kubectl apply -f -", in_stream=io.StringIO(manifests), warn=True)
        if result is None or result.failed:
            raise release.apply_failed(project, env)
        return
    print(  # noqa: T201 - the task's report
        f"# would apply to {env} (kubectl apply -f -; run with --apply to apply):\n{manifests}",
        end="",
    )


@task(
    help={
        "project": "project folder under projects/",
        "target": "image target: serve, train or all (default)",
        "env": "environment whose Kubernetes manifests are printed: staging (default), production",
        "tag": "image tag (default: the short git commit)",
        "registry": "image name prefix in the manifests (default medai)",
        "dry-run": "print the docker commands without running them",
    }
)
@_stops
def build(
    c: Context,
    project: str,
    target: str = "all",
    env: str = "staging",
    tag: str = "",
    registry: str = "",
    dry_run: bool = False,  # noqa: FBT001, FBT002 - an invoke flag
) -> None:
    """Build a project's images (docker/scripts/build.sh) and print the manifests that use them.

    Without a Docker engine (as in CI) the docker commands are printed, not run.
    """
    (name,) = resolve_projects(project, allow_all=False)
    targets = release.image_targets(target)
    manifests = release.manifests_for(ROOT, name, env, tag=tag, registry=registry)
    engine = _docker_engine_running(c)
    if not engine:
        print("no Docker engine here: printing the build commands only")  # noqa: T201
    script = ROOT / "docker" / "scripts" / "build.sh"
    for one in targets:
        flags = f"--target {one} --tag {shlex.quote(release.image_tag(ROOT, tag))}"
        if dry_run or not engine:
            flags += " --dry-run"
        result = c.run(f"{shlex.quote(str(script))} {shlex.quote(name)} {flags}", warn=True)
        if result is None or result.failed:
            raise ToolError(f"building the {one} image of {name} failed", 1)
    _apply_or_print(c, manifests, name, env, apply=False)


def _docker_engine_running(c: Context) -> bool:
    if shutil.which("docker") is None:
        return False
    result = c.run("docker info", hide=True, warn=True)
    return result is not None and result.ok


@task(
    help={
        "project": "project folder under projects/",
        "set": "config override KEY=VALUE (repeatable)",
    },
    iterable=["set_"],
)
@_stops
def rollback(c: Context, project: str, set_: list[str] | None = None) -> None:
    """Point the champion alias back at the previous champion."""
    (name,) = resolve_projects(project, allow_all=False)
    _script(c, name, "deploy", f"--rollback {_overrides(set_)}".strip(), task_name="rollback")


# ----------------------------------------------------------------------------- quality

CHECK_HELP = {
    "project": "project folder under projects/, 'shared', 'tooling', 'all' (default), or "
    "'affected' (what changed since --base, uncommitted work included)",
    "base": f"with --project=affected: the ref to compare with (default {DEFAULT_BASE})",
}


@task(help=CHECK_HELP)
@_stops
def lint(c: Context, project: str = ALL, base: str = DEFAULT_BASE) -> None:
    """Ruff lint and format check (via the nox 'lint' session)."""
    _nox(c, "lint", project, base)


@task(help=CHECK_HELP)
@_stops
def typecheck(c: Context, project: str = ALL, base: str = DEFAULT_BASE) -> None:
    """Type-check with mypy --strict (via the nox 'typecheck' session)."""
    _nox(c, "typecheck", project, base)


@task(help={**CHECK_HELP, "pytest": "extra pytest arguments, e.g. '-m \"not integration\"'"})
@_stops
def test(c: Context, project: str = ALL, pytest: str = "", base: str = DEFAULT_BASE) -> None:
    """Run tests, each target in its own venv (via the nox 'tests' session)."""
    _nox(c, "tests", project, base, pytest)


@task(
    help={
        "base": f"ref to compare HEAD with (default {DEFAULT_BASE}); CI passes the PR's base",
        "format": "lines (default), json (the CI matrix) or github (step outputs)",
        "worktree": "count uncommitted and untracked files too",
    }
)
def affected(
    c: Context,  # noqa: ARG001 - invoke passes the context
    base: str = DEFAULT_BASE,
    format_: str = "lines",
    worktree: bool = False,  # noqa: FBT001, FBT002 - an invoke flag
) -> None:
    """Which check targets (shared, projects, tooling) a change touches; CI's matrix.

    A change inside projects/X affects X; the shared library, the root pyproject.toml or
    uv.lock, noxfile.py or tasks.py affect every target. The rules: tools/affected.py.
    """
    from tools.affected import main as affected_main  # noqa: PLC0415 - its CLI

    argv = [f"--base={base}", f"--format={format_}", *(["--worktree"] if worktree else [])]
    status = affected_main(argv)
    if status:
        raise Exit(code=status)


@task(help={"project": "project folder under projects/, or 'all' (default)"})
@_stops
def check(c: Context, project: str = ALL) -> None:  # noqa: ARG001 - invoke passes the context
    """Check projects against the standard layout; lists every problem, per project.

    The rules (standard files, requirements from uv.lock, Makefile, configs load, docs
    name real tasks, no weights or data in git) are in docs/project-structure.md.
    """
    results = check_projects(
        ROOT, resolve_projects(project, allow_all=True), task_names=load_task_names(ROOT)
    )
    print(format_report(results))  # noqa: T201 - the task's report
    if any(results.values()):
        raise Exit(code=1)


# ----------------------------------------------------------------------------- projects


@task(
    help={
        "project": "the new project's folder name under projects/ (e.g. mri-seg)",
        "kind": f"what the model does: {' or '.join(known_kinds(ROOT))} (default segmentation)",
        "modality": "imaging modality for help texts and API docs (default: CT / radiograph)",
    }
)
@_stops
def new(c: Context, project: str, kind: str = "segmentation", modality: str = "") -> None:  # noqa: ARG001
    """Create projects/NAME from the template, register it in the workspace, write requirements.

    Renders the committed template (copier), adds "NAME[train]" to the root dependencies
    and uv.lock (uv add), tidies imports and writes requirements*.txt. Any failure removes
    the folder and restores pyproject.toml and uv.lock.
    """
    commit = new_project.create_project(ROOT, project, kind, modality)
    print(new_project.created_report(project, kind, commit))  # noqa: T201 - the task's report


@task(help={"project": "project folder under projects/, or 'all'"})
@_stops
def update_template(c: Context, project: str) -> None:  # noqa: ARG001 - invoke passes it
    """Merge the template's changes since a project was made into it (copier update).

    The project must be committed; conflicts are left inline (<<<<<<< before updating).
    When the project's pyproject.toml changed, uv.lock and its requirements are redone.
    """
    names = resolve_projects(project, allow_all=True)
    if project == ALL:
        names, skipped = template_update.split_made_from_template(ROOT, names)
        for name in skipped:
            print(f"{name}: skipped (no .copier-answers.yml: not made from the template)")  # noqa: T201
    commit = template_commit(ROOT)
    template_update.check_all_updatable(ROOT, names)
    for done, name in enumerate(names, start=1):
        template_update.update_project(ROOT, name, commit, after=names[done:])
        print(f"{name}: updated to template commit {commit[:12]}; merged")  # noqa: T201


@task(help={"project": "project folder under projects/, or 'all' (default)"})
@_stops
def requirements(c: Context, project: str = ALL) -> None:  # noqa: ARG001 - invoke passes it
    """Rewrite requirements.txt and requirements-dev.txt of projects from uv.lock (uv export)."""
    for name in resolve_projects(project, allow_all=True):
        try:
            written = write_requirements(ROOT, name, read_project(ROOT, name).distribution)
        except (ExportError, ValueError) as exc:
            raise Exit(str(exc), code=2) from None
        for path in written:
            print(f"wrote {path.relative_to(ROOT)}")  # noqa: T201


@task
def report(c: Context) -> None:  # noqa: ARG001 - invoke passes the context
    """Every project's registered model: champion and challenger with their metric and CI."""
    # MLflow takes seconds to import: only this task pays for it.
    from tools.model_report import ReportError, registry_report  # noqa: PLC0415

    packages = {name: read_project(ROOT, name).package for name in known_projects()}
    try:
        print(registry_report(ROOT, packages))  # noqa: T201 - the task's report
    except ReportError as exc:
        raise Exit(f"error: {exc}", code=2) from None


# ----------------------------------------------------------------------------- namespace

GROUPS = {
    "quality": (lint, typecheck, test, check, affected),
    "model": (train, tune, evaluate, predict, serve),
    "release": (build, deploy, rollback),
    "projects": (new, update_template, report, requirements),
}
"""The tasks by concern; each is at the root too, so every documented command line works."""

ns = Collection()
for _group, _tasks in GROUPS.items():
    ns.add_collection(Collection(_group, *_tasks))
    for _task in _tasks:
        ns.add_task(_task)
