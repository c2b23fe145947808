"""Invoke tasks of the monorepo; each takes ``--project=NAME`` (a folder under ``projects/``).

    uv run invoke --list
    uv run invoke train --project=ct-seg --set train.epochs=2
    uv run invoke test --project=all
    uv run invoke check              # every project against the standard layout
    uv run invoke new --project=mri-seg --kind=segmentation   # a new project from template/

Tasks delegate: checks go through nox (same venvs as CI), project work through the
project's own ``scripts/`` entry points, repo checks and reports to ``tools/``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task
from tools.affected import AffectedError, affected_since
from tools.manifests import ManifestError, render_manifests
from tools.projects import known_projects as projects_in
from tools.requirements import ExportError, uv_command, write_requirements
from tools.structure_check import check_projects, format_report, load_task_names, read_project

ROOT = Path(__file__).resolve().parent
ALL = "all"
NON_PROJECT_TARGETS = ("shared", "tooling")
"""Test/lint targets that are not projects: the shared library and the repo's own tooling."""


def known_projects() -> list[str]:
    """Every folder under ``projects/`` that has a ``pyproject.toml``."""
    return projects_in(ROOT)


def resolve_projects(project: str, *, allow_all: bool, extra: tuple[str, ...] = ()) -> list[str]:
    """Expand ``--project``; an unknown name stops with the list of known ones.

    Args:
        project: a project folder name, or ``all``.
        allow_all: whether ``all`` is accepted.
        extra: further accepted names (e.g. ``shared`` for checks).

    Raises:
        Exit: with status 2 and a one-line message.
    """
    known = [*known_projects(), *extra]
    if project == ALL and allow_all:
        return known_projects()
    if project not in known:
        choices = ", ".join([*known, ALL] if allow_all else known)
        raise Exit(f"error: unknown project {project!r}; known: {choices}", code=2)
    return [project]


def _overrides(values: list[str] | None) -> str:
    return " ".join(f"--set {shlex.quote(v)}" for v in values or [])


SCRIPT_REPORTED = frozenset({1, 2})
"""Exit statuses after which a project script has said why itself (medai.cli.run_guarded:
2 and one ``error:`` line for a user error, 1 for a refusal or a traceback), so a task
adds no line of its own and the user reads the error once."""


def _script(c: Context, project: str, name: str, args: str = "", *, task_name: str = "") -> str:
    """Run ``projects/<project>/scripts/<name>.py`` (for the task ``task_name``, default ``name``).

    Returns:
        What the script printed on stdout (it is shown as it runs, too).

    Raises:
        Exit: the script is missing (status 2, one ``error:`` line) or failed (its status;
            a line of the task's own only when the script could not say why, e.g. killed).
    """
    script = ROOT / "projects" / project / "scripts" / f"{name}.py"
    if not script.is_file():
        raise Exit(f"error: project {project!r} has no scripts/{name}.py", code=2)
    result = c.run(
        f"{shlex.quote(sys.executable)} {shlex.quote(str(script))} {args}".strip(),
        pty=sys.stdout.isatty(),
        warn=True,
    )
    if result is not None and result.failed:
        status = result.exited
        if status in SCRIPT_REPORTED:
            raise Exit(code=status)
        raise Exit(
            f"error: {task_name or name} for project {project!r} stopped with exit status "
            f"{status} before it could say why (killed, e.g. out of memory?)",
            code=status or 1,
        )
    return result.stdout if result is not None else ""


def _each_project(c: Context, name: str, projects: list[str], args: str) -> None:
    """Run one script per project in turn; stop at the first failure.

    With several projects a summary line each follows (ok, FAILED, not run); it names
    the exit status only, since the error itself was printed once, just above it.

    Raises:
        Exit: from the first project that fails, after the summary.
    """
    if len(projects) == 1:
        _script(c, projects[0], name, args)
        return
    summary: list[str] = []
    try:
        for project in projects:
            start = time.perf_counter()
            try:
                _script(c, project, name, args)
            except Exit as failure:
                summary.append(f"{project}: {name} FAILED (exit status {failure.code})")
                raise
            summary.append(f"{project}: {name} ok ({time.perf_counter() - start:.0f} s)")
    finally:
        summary.extend(f"{p}: {name} not run" for p in projects[len(summary) :])
        print("\n".join(summary), flush=True)  # noqa: T201 - the task's report


def _nox(c: Context, session: str, projects: list[str], extra: str = "") -> None:
    names = " ".join(shlex.quote(p) for p in projects)
    nox = f"{shlex.quote(sys.executable)} -m nox --reuse-venv=yes"
    c.run(f"{nox} -s {session} -- {names} {extra}".strip())


@task(
    help={
        "project": "project folder under projects/, or 'all'",
        "set": "config override KEY=VALUE (repeatable)",
    },
    iterable=["set_"],
)
def train(c: Context, project: str, set_: list[str] | None = None) -> None:
    """Train a project's model, track the run in MLflow and register it as challenger."""
    _each_project(c, "train", resolve_projects(project, allow_all=True), _overrides(set_))


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
        _check_can_apply(c, name, env, tag, registry)
    said = _script(c, name, "deploy", f"--env {shlex.quote(env)} {_overrides(set_)}".strip())
    version = champion_version_said(said)
    try:  # promoted (or already champion); the gate has checked --env
        manifests = render_manifests(
            ROOT,
            name,
            env,
            tag=_image_tag(tag),
            registry=registry or DEFAULT_REGISTRY,
            model_version=version,
        )
    except ManifestError as exc:
        print(f"promoted; manifests not printed: {exc}", file=sys.stderr)  # noqa: T201
        return
    _apply_or_print(c, manifests, name, env, apply=apply)


DEFAULT_REGISTRY = "medai"
"""Image prefix of local builds (docker/scripts/build.sh); a cluster needs a real registry."""


def champion_version_said(output: str) -> str | None:
    """The champion version the deploy command reported (promoted, or already champion)."""
    found = re.search(
        r"^promoted \S+ v(\d+) to champion|^\S+ v(\d+) is already champion", output, re.MULTILINE
    )
    return next((group for group in found.groups() if group), None) if found else None


def _check_can_apply(c: Context, project: str, env: str, tag: str, registry: str) -> None:
    """Refuse ``--apply`` before the gate when the manifests could not be applied.

    Raises:
        Exit: no ``--registry``/``--tag`` (the cluster pulls real images), the manifests do
            not render, or kubectl has no cluster context (status 2; nothing promoted).
    """
    if not registry or not tag:
        raise Exit(
            "--apply needs --registry and --tag (the images the cluster pulls, as pushed by "
            "docker/scripts/deploy.sh); nothing promoted",
            code=2,
        )
    _manifests(project, env, tag, registry)
    context = c.run("kubectl config current-context", hide=True, warn=True)
    if context is None or context.failed:
        raise Exit("--apply: kubectl has no current cluster context; nothing promoted", code=2)


def _image_tag(tag: str) -> str:
    """``tag``, else the short commit (the tag docker/scripts/build.sh gives by default)."""
    if tag:
        return tag
    try:
        return _git(ROOT, "rev-parse", "--short", "HEAD")
    except Exit:
        return "dev"


def _manifests(project: str, env: str, tag: str, registry: str) -> str:
    """The project's manifests for ``env``; an unknown env or missing kubectl stops (status 2)."""
    try:
        return render_manifests(
            ROOT, project, env, tag=_image_tag(tag), registry=registry or DEFAULT_REGISTRY
        )
    except ManifestError as exc:
        raise Exit(f"error: {exc}", code=2) from None


def _apply_or_print(c: Context, manifests: str, project: str, env: str, *, apply: bool) -> None:
    if apply:
        result = c.run("kubectl apply -f -", in_stream=io.StringIO(manifests), warn=True)
        if result is None or result.failed:
            raise Exit(
                f"kubectl apply failed for {project} ({env}) after the champion alias moved: "
                f"fix the cluster and run the same deploy again (it finds the champion in "
                f"place and applies), or `invoke rollback --project={project}`",
                code=1,
            )
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
    targets = ["serve", "train"] if target == ALL else [target]
    if not set(targets) <= {"serve", "train"}:
        raise Exit(f"unknown target {target!r}; known: serve, train, all", code=2)
    manifests = _manifests(name, env, tag, registry)
    engine = _docker_engine_running(c)
    if not engine:
        print("no Docker engine here: printing the build commands only")  # noqa: T201
    script = ROOT / "docker" / "scripts" / "build.sh"
    for one in targets:
        flags = f"--target {one} --tag {shlex.quote(_image_tag(tag))}"
        if dry_run or not engine:
            flags += " --dry-run"
        result = c.run(f"{shlex.quote(str(script))} {shlex.quote(name)} {flags}", warn=True)
        if result is None or result.failed:
            raise Exit(f"building the {one} image of {name} failed", code=1)
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
def rollback(c: Context, project: str, set_: list[str] | None = None) -> None:
    """Point the champion alias back at the previous champion."""
    (name,) = resolve_projects(project, allow_all=False)
    _script(c, name, "deploy", f"--rollback {_overrides(set_)}".strip(), task_name="rollback")


@task(
    help={
        "project": "project folder under projects/, or 'all'",
        "alias": "registry alias (default: champion; in development else challenger, warned)",
        "set": "config override KEY=VALUE (repeatable)",
    },
    iterable=["set_"],
)
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


AFFECTED = "affected"
DEFAULT_BASE = "origin/main"
CHECK_HELP = {
    "project": "project folder under projects/, 'shared', 'tooling', 'all' (default), or "
    "'affected' (what changed since --base, uncommitted work included)",
    "base": f"with --project=affected: the ref to compare with (default {DEFAULT_BASE})",
}


def _affected(base: str) -> list[str]:
    """The check targets touched since ``base`` (committed, staged, unstaged, untracked)."""
    try:
        found = affected_since(ROOT, base, include_worktree=True, projects=known_projects())
    except AffectedError as exc:
        raise Exit(f"error: {exc}", code=2) from None
    for reason in found.reasons:
        print(reason)  # noqa: T201 - why these targets
    return list(found.targets)


def _check_targets(project: str, base: str = DEFAULT_BASE) -> list[str] | None:
    """Nox targets for ``--project``: [] means every target, None means nothing to do."""
    if project == ALL:
        return []  # nox's default: every target
    if project == AFFECTED:
        targets = _affected(base)
        if not targets:
            print(f"nothing affected since {base}: no checks to run")  # noqa: T201
            return None
        return targets
    return resolve_projects(project, allow_all=False, extra=NON_PROJECT_TARGETS)


def _nox_checks(c: Context, session: str, project: str, base: str, extra: str = "") -> None:
    targets = _check_targets(project, base)
    if targets is not None:
        _nox(c, session, targets, extra)


@task(help=CHECK_HELP)
def lint(c: Context, project: str = ALL, base: str = DEFAULT_BASE) -> None:
    """Ruff lint and format check (via the nox 'lint' session)."""
    _nox_checks(c, "lint", project, base)


@task(help=CHECK_HELP)
def typecheck(c: Context, project: str = ALL, base: str = DEFAULT_BASE) -> None:
    """Type-check with mypy --strict (via the nox 'typecheck' session)."""
    _nox_checks(c, "typecheck", project, base)


@task(help={**CHECK_HELP, "pytest": "extra pytest arguments, e.g. '-m \"not integration\"'"})
def test(c: Context, project: str = ALL, pytest: str = "", base: str = DEFAULT_BASE) -> None:
    """Run tests, each target in its own venv (via the nox 'tests' session)."""
    _nox_checks(c, "tests", project, base, pytest)


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


@task(help={"project": "project folder under projects/, or 'all' (default)"})
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


@task(help={"project": "project folder under projects/, or 'all' (default)"})
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


# ----------------------------------------------------------------------------- the template

TEMPLATE_PATHS = ("copier.yml", "template")
"""What `copier` renders from: the questions at the root, the files under template/."""
KINDS = ("segmentation", "classification")
READY_KINDS = frozenset({"segmentation", "classification"})
"""Kinds whose project files the template renders in full today."""
PROJECT_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
MAX_NAME_LENGTH = 24
RESERVED_NAMES = frozenset(
    {ALL, *NON_PROJECT_TARGETS, "medai", "template", "projects", "tests", "tools", "docs"}
)
"""Names a project cannot take: task targets, the shared library and repo folders."""
STACK = Path("docker/docker-compose.yml")
REGISTERED_FILES = ("pyproject.toml", "uv.lock", str(STACK))
"""Root files `uv add` changes when it registers a project."""


def check_new_project_name(root: Path, name: str) -> None:
    """Refuse a name that is malformed, reserved, taken, or shadows an installed package.

    Raises:
        Exit: with status 2 and a one-line message saying what is wrong and what would do.
    """
    if not PROJECT_NAME.fullmatch(name) or len(name) > MAX_NAME_LENGTH:
        raise Exit(
            f"project name {name!r}: use lower-case letters and digits, words joined by "
            f"dashes, at most {MAX_NAME_LENGTH} characters (e.g. mri-seg)",
            code=2,
        )
    if name in RESERVED_NAMES:
        raise Exit(f"project name {name!r} is reserved; reserved: {sorted(RESERVED_NAMES)}", code=2)
    folder = root / "projects" / name
    if folder.exists():
        raise Exit(f"projects/{name} exists already; choose another name", code=2)
    package = name.replace("-", "_")
    if importlib.util.find_spec(package) is not None:
        raise Exit(
            f"project name {name!r}: its import name {package!r} is taken by an installed "
            "package; choose another name",
            code=2,
        )


def _git(root: Path, *args: str) -> str:
    """Run git in ``root``; its stdout, stripped.

    Raises:
        Exit: git failed (status 2), with git's first line.
    """
    result = subprocess.run(  # noqa: S603 - fixed git argv
        ["git", *args],  # noqa: S607 - git from PATH, as every developer runs it
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines() or [f"exit status {result.returncode}"]
        raise Exit(f"git {' '.join(args)} failed: {lines[0]}", code=2)
    return result.stdout.strip()


def template_commit(root: Path) -> str:
    """HEAD's commit, which the template is rendered from; refuses uncommitted template edits.

    A commit SHA, never "HEAD": given a ref to a dirty tree, copier renders a temporary
    commit of the uncommitted files and records its hash, which exists in no clone, so
    the project could never be updated from it.

    Raises:
        Exit: the template has uncommitted changes (status 2).
    """
    dirty = _git(root, "status", "--porcelain", "--", *TEMPLATE_PATHS)
    if dirty:
        files = ", ".join(line.split(maxsplit=1)[-1] for line in dirty.splitlines())
        raise Exit(f"commit the template first; uncommitted: {files}", code=2)
    return _git(root, "rev-parse", "HEAD")


@contextlib.contextmanager
def undone_on_failure(root: Path, name: str) -> Iterator[None]:
    """Leave nothing half-made: on any failure remove the project and restore the root files.

    The folder ``projects/<name>`` is removed, and ``pyproject.toml`` and ``uv.lock`` get
    back their bytes from before (a file that did not exist is removed again), so a
    failed ``invoke new`` leaves no project that is half-registered in the workspace.
    """
    saved = {
        root / relative: (root / relative).read_bytes() if (root / relative).is_file() else None
        for relative in REGISTERED_FILES
    }
    try:
        yield
    except BaseException:
        shutil.rmtree(root / "projects" / name, ignore_errors=True)
        for path, content in saved.items():
            if content is None:
                path.unlink(missing_ok=True)
            else:
                path.write_bytes(content)
        raise


STACK_SERVICES = """\
  {name}-init:
    <<: *model-init
    image: medai/{name}:${{TAG:-dev}}-train
    build: {{<<: *project-build, target: train, args: {{PROJECT: {name}}}}}
    volumes: [{name}-models:/models]

  {name}:
    <<: *model-server
    image: medai/{name}:${{TAG:-dev}}-serve
    build: {{<<: *project-build, target: serve, args: {{PROJECT: {name}}}}}
    depends_on: {{{name}-init: {{condition: service_completed_successfully}}}}
    volumes: [{name}-models:/models:ro]

"""


def add_to_stack(root: Path, name: str) -> None:
    """Add the project's model init step and server to the monorepo stack (docker/).

    The services go last in ``services:`` (just before the top-level ``secrets:``) and
    the model volume last in ``volumes:`` (the file's last section), so the file stays
    hand-editable and the new block reads like the ones before it.

    Raises:
        Exit: the stack file does not have that shape (status 2): add the block by hand.
    """
    path = root / STACK
    if not path.is_file():
        return  # a repo without the shared stack
    text = path.read_text(encoding="utf-8")
    volumes_at = text.rfind("\nvolumes:\n")
    if "\nsecrets:\n" not in text or volumes_at < 0 or f"\n  {name}:\n" in text:
        raise Exit(
            f"{STACK}: cannot add {name}'s services (expected top-level `secrets:` and a last "
            f"`volumes:` section, and no service {name!r} yet); add them by hand",
            code=2,
        )
    services = STACK_SERVICES.format(name=name)
    text = text.replace("\nsecrets:\n", f"\n{services}secrets:\n", 1)
    path.write_text(text.rstrip("\n") + f"\n  {name}-models:\n", encoding="utf-8")


def _run(argv: list[str], root: Path, what: str) -> None:
    """Run a step of ``invoke new`` / ``update-template``.

    Raises:
        Exit: the step failed, naming it and its last line of output.
    """
    result = subprocess.run(argv, cwd=root, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        raise Exit(f"{what} failed: {failure_summary(result)}", code=result.returncode or 1)


def failure_summary(result: subprocess.CompletedProcess[str]) -> str:
    """One line from a failed tool's output: its ``error:``/``cause:`` lines, else its last."""
    lines = [line.strip() for line in (result.stderr + result.stdout).splitlines() if line.strip()]
    reasons = [line for line in lines if line.startswith(("error:", "cause:"))]
    if reasons:
        return "; ".join(reasons[:2])
    return lines[-1] if lines else f"exit status {result.returncode}"


def tidy_imports(root: Path, name: str) -> None:
    """Sort imports and format the rendered code.

    The template writes the project's own imports before ``medai``'s, as isort wants
    for names that sort before "medai"; ruff puts them in place for the others.
    """
    folder = str(root / "projects" / name)
    ruff = [sys.executable, "-m", "ruff"]
    _run([*ruff, "check", "--fix", "--select", "I", "--quiet", folder], root, "ruff (imports)")
    _run([*ruff, "format", "--quiet", folder], root, "ruff format")


def render_project(root: Path, name: str, answers: dict[str, str], commit: str) -> None:
    """Render ``template/`` at ``commit`` into ``projects/<name>`` (copier's Python API).

    ``answers`` are copier's answers besides the name; empty ones take their default.

    Runs from the repo root with the template path ".", which copier records as
    ``_src_path`` in the project's ``.copier-answers.yml``: relative to the repo root,
    so ``copier update`` works from any clone.

    Raises:
        Exit: copier refused an answer (status 2).
    """
    import copier  # noqa: PLC0415 - only these tasks need it

    try:
        with contextlib.chdir(root):
            copier.run_copy(
                ".",
                Path("projects") / name,
                data={"project_name": name, **{k: v for k, v in answers.items() if v}},
                defaults=True,
                vcs_ref=commit,
                unsafe=False,  # the template runs no tasks, migrations or extensions
                quiet=True,
            )
    except ValueError as exc:  # copier's validation errors
        raise Exit(f"template: {str(exc).strip().splitlines()[0]}", code=2) from None


@task(
    help={
        "project": "the new project's folder name under projects/ (e.g. mri-seg)",
        "kind": f"what the model does: {' or '.join(KINDS)} (default segmentation)",
        "modality": "imaging modality for help texts and API docs (default: CT / radiograph)",
    }
)
def new(c: Context, project: str, kind: str = "segmentation", modality: str = "") -> None:  # noqa: ARG001
    """Create projects/NAME from the template, register it in the workspace, write requirements.

    Renders the committed template (copier), adds "NAME[train]" to the root dependencies
    and uv.lock (uv add), tidies imports and writes requirements*.txt. Any failure removes
    the folder and restores pyproject.toml and uv.lock.
    """
    check_new_project_name(ROOT, project)
    if kind not in KINDS:
        raise Exit(f"unknown kind {kind!r}; known: {', '.join(KINDS)}", code=2)
    if kind not in READY_KINDS:
        raise Exit(f"{kind} template not available yet", code=2)
    commit = template_commit(ROOT)
    with undone_on_failure(ROOT, project):
        render_project(ROOT, project, {"kind": kind, "modality": modality}, commit)
        _run([*uv_command(), "add", "--no-sync", "--quiet", f"{project}[train]"], ROOT, "uv add")
        tidy_imports(ROOT, project)
        add_to_stack(ROOT, project)
        try:
            write_requirements(ROOT, project, project)
        except ExportError as exc:
            raise Exit(str(exc), code=2) from None
    print(  # noqa: T201 - the task's report
        f"created projects/{project} ({kind}) from template commit {commit[:12]}; registered "
        f'"{project}[train]" in pyproject.toml and uv.lock; added its server to {STACK}; '
        "wrote requirements*.txt\n"
        "next:\n"
        f"  uv run nox -s tests -- {project}\n"
        f"  uv run invoke train --project={project}\n"
        f"  uv run invoke check --project={project}\n"
        f"  git add projects/{project} pyproject.toml uv.lock {STACK} && git commit"
    )


def _recorded_commit(answers: Path) -> str:
    """The ``_commit`` of a ``.copier-answers.yml`` (empty when there is none)."""
    for line in answers.read_text(encoding="utf-8").splitlines():
        if line.startswith("_commit:"):
            return line.split(":", 1)[1].strip().strip("'\"")
    return ""


def _check_updatable(root: Path, name: str) -> None:
    """The project has answers pointing at a commit with the template, and no local changes.

    Raises:
        Exit: status 2, naming what to do.
    """
    answers = root / "projects" / name / ".copier-answers.yml"
    if not answers.is_file():
        raise Exit(
            f"projects/{name} has no .copier-answers.yml: it was not made from the template",
            code=2,
        )
    recorded = _recorded_commit(answers)
    listed = subprocess.run(  # noqa: S603 - fixed git argv
        ["git", "cat-file", "-e", f"{recorded}:copier.yml"],  # noqa: S607
        cwd=root,
        capture_output=True,
        check=False,
    )
    if not recorded or listed.returncode != 0:
        raise Exit(
            f"projects/{name}/.copier-answers.yml: _commit {recorded or '(none)'} has no "
            "copier.yml in this clone; set _commit to the template commit the project was last "
            "in step with",
            code=2,
        )
    if _git(root, "status", "--porcelain", "--", f"projects/{name}"):
        raise Exit(f"projects/{name} has uncommitted changes; commit them first", code=2)
    unmerged = _git(root, "diff", "--name-only", "--diff-filter=U")
    if unmerged:
        first = unmerged.splitlines()[0]
        raise Exit(f"resolve the unmerged files first (git add them), e.g. {first}", code=2)


@task(help={"project": "project folder under projects/, or 'all'"})
def update_template(c: Context, project: str) -> None:  # noqa: ARG001 - invoke passes it
    """Merge the template's changes since a project was made into it (copier update).

    The project must be committed; conflicts are left inline (<<<<<<< before updating).
    When the project's pyproject.toml changed, uv.lock and its requirements are redone.
    """
    names = resolve_projects(project, allow_all=True)
    if project == ALL:
        made = [n for n in names if (ROOT / "projects" / n / ".copier-answers.yml").is_file()]
        for name in sorted(set(names) - set(made)):
            print(f"{name}: skipped (no .copier-answers.yml: not made from the template)")  # noqa: T201
        names = made
    commit = template_commit(ROOT)
    for name in names:
        _check_updatable(ROOT, name)
    import copier  # noqa: PLC0415 - only these tasks need it

    for done, name in enumerate(names, start=1):
        with contextlib.chdir(ROOT):
            copier.run_update(
                Path("projects") / name,
                defaults=True,
                overwrite=True,
                vcs_ref=commit,
                unsafe=False,
                quiet=True,
                conflict="inline",
            )
        conflicted = _git(ROOT, "diff", "--name-only", "--diff-filter=U", "--", f"projects/{name}")
        if conflicted:
            # copier diffs the whole repo's index: no other project until these are resolved.
            left = names[done:]
            rest = f"; then update-template again for {', '.join(left)}" if left else ""
            files = conflicted.replace("\n", ", ")
            raise Exit(
                f"{name}: conflicts with template commit {commit[:12]} in {files}: resolve the "
                f"<<<<<<< markers, git add, uv lock if pyproject.toml changed, commit{rest}",
                code=1,
            )
        tidy_imports(ROOT, name)
        if _git(ROOT, "status", "--porcelain", "--", f"projects/{name}/pyproject.toml"):
            _run([*uv_command(), "lock", "--quiet"], ROOT, "uv lock")
            try:
                write_requirements(ROOT, name, read_project(ROOT, name).distribution)
            except ExportError as exc:
                raise Exit(str(exc), code=2) from None
        print(f"{name}: updated to template commit {commit[:12]}; merged")  # noqa: T201
