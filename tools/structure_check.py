"""Does every project follow the standard layout? Reports every problem at once, per project.

The rules, and why each deviation from the standard exists, are written down in
docs/project-structure.md. Run:

    uv run invoke check --project=ct-seg      # or --project=all (the default)
    uv run python -m tools.structure_check ct-seg
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tools.answers import made_from_template
from tools.errors import ToolError
from tools.projects import known_projects
from tools.requirements import EXPORTS, ExportError, expected_requirements
from tools.template_drift import drift_detail, project_drift
from tools.template_git import git

ROOT = Path(__file__).resolve().parents[1]

STANDARD_FILES: tuple[str, ...] = (
    # src/ of the standard is src/<package>/ here (src layout, one import name per project).
    "src/{package}/__init__.py",
    "src/{package}/api/__init__.py",
    "src/{package}/api/main.py",
    "src/{package}/api/routes/__init__.py",
    "src/{package}/api/routes/health.py",
    "src/{package}/api/routes/predict.py",
    "src/{package}/api/middleware/__init__.py",
    "src/{package}/api/middleware/auth.py",
    "src/{package}/api/middleware/logging.py",
    "src/{package}/api/utils/__init__.py",
    "src/{package}/api/utils/response.py",
    "src/{package}/api/utils/validation.py",
    "src/{package}/models/__init__.py",
    "src/{package}/models/base.py",
    "src/{package}/models/{package}.py",
    "src/{package}/utils/__init__.py",
    "src/{package}/utils/preprocessing.py",
    "src/{package}/utils/visualization.py",
    "src/{package}/utils/metrics.py",
    "src/{package}/utils/medical_utils.py",
    # Optional in the standard; required here: train/evaluate/serve all go through MLflow.
    "src/{package}/mlops/__init__.py",
    "src/{package}/mlops/model_registry.py",
    "src/{package}/mlops/experiment_tracker.py",
    "src/{package}/mlops/deployment.py",
    # Not in the standard's tree: the typed settings behind configs/ (checked by loading).
    "src/{package}/settings.py",
    "configs/base.yaml",
    "configs/development.yaml",
    "configs/production.yaml",
    "configs/model_configs/{name}.yaml",
    "configs/api_configs/fastapi.yaml",
    "configs/api_configs/docker.yaml",
    "docker/Dockerfile",
    "docker/docker-compose.yml",
    "docker/docker-compose.dev.yml",
    "docker/docker-compose.prod.yml",
    "docker/scripts/build.sh",
    "docker/scripts/run.sh",
    "docker/scripts/deploy.sh",
    "tests/unit/test_models.py",
    "tests/unit/test_preprocessing.py",
    "tests/unit/test_api.py",
    "tests/integration/test_end_to_end.py",
    "tests/integration/test_deployment.py",
    "scripts/train.py",
    "scripts/evaluate.py",
    "scripts/predict.py",
    "scripts/deploy.py",
    "scripts/setup/install_dependencies.sh",
    "scripts/setup/setup_environment.sh",
    ".env.example",
    ".gitignore",
)
"""Files every project has (``{package}``: import name, ``{name}``: folder name).

``pyproject.toml``, ``requirements*.txt``, ``Makefile`` and the docs (``README.md``,
``docs/*.md``) are checked by their own rules."""

STANDARD_FOLDERS: tuple[str, ...] = (
    "tests/fixtures/sample_images",
    "tests/fixtures/sample_models",
    "docs/images",
)
"""Folders of the standard with no named file; they must hold a file (git drops empty ones)."""

MUST_NOT_EXIST: dict[str, str] = {
    "setup.py": "pyproject.toml ([build-system] uv_build) replaces it",
    "tests/__init__.py": (
        "tests are not a package here (pytest --import-mode=importlib); two projects' "
        "tests/__init__.py + conftest.py collide when pytest collects both"
    ),
}
"""Standard files the uv workspace replaces, with the reason."""

RUNTIME_FOLDERS = ("data", "mlruns", "outputs")
"""Created by running the project; git-ignored, never committed."""

MAKE_TARGETS = (
    "train",
    "evaluate",
    "predict",
    "serve",
    "test",
    "lint",
    "typecheck",
    "check",
    "requirements",
    "build",
    "deploy",
    "rollback",
)
"""Makefile targets a project needs, each as soon as tasks.py has a task of that name."""

REQUIRED_DOCS = (
    "README.md",
    "docs/README.md",
    "docs/API.md",
    "docs/DEPLOYMENT.md",
    "docs/DEVELOPMENT.md",
    "docs/MEDICAL_AI.md",
)

CONFIG_ENVIRONMENTS: tuple[tuple[str, str | None], ...] = (
    ("MEDAI_ENV unset", None),
    ("MEDAI_ENV=development", "development"),
    ("MEDAI_ENV=production", "production"),
)

WEIGHT_AND_DATA_SUFFIXES = (
    ".pt",
    ".pth",
    ".ckpt",
    ".onnx",
    ".safetensors",
    ".h5",
    ".pkl",
    ".nii",
    ".nii.gz",
    ".dcm",
    ".npz",
    ".npy",
)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".webp", ".svg")
MAX_FILE_BYTES = 1024 * 1024
MAX_FIXTURE_BYTES = 256 * 1024
FIXTURES = "tests/fixtures/"
DOC_IMAGES = "docs/images/"

_INVOKE_TASK = re.compile(r"(?:\buv run\s+|^\s*(?:\$\s+)?|`)invoke\s+(?P<task>[a-z][\w.-]*)")
_PROJECT_OPTION = re.compile(r"--project[= ](?P<value>[^\s`'\"),;\]]+)")
_MAKE_RULE = re.compile(r"^(?P<targets>[A-Za-z0-9_.%-]+(?:[ \t]+[A-Za-z0-9_.%-]+)*)[ \t]*:(?!=)")


@dataclass(frozen=True)
class Problem:
    """One thing a project gets wrong: the rule it breaks and a one-line detail."""

    rule: str
    detail: str

    def __str__(self) -> str:
        """``rule: detail``, the line printed in the report."""
        return f"{self.rule}: {self.detail}"


@dataclass(frozen=True)
class Project:
    """A folder under ``projects/`` with its distribution and import names."""

    name: str
    directory: Path
    distribution: str
    package: str


RequirementsExporter = Callable[[Path, str, str, str], str]
"""``(root, project, distribution, file name) -> expected file text``."""


def read_project(root: Path, name: str) -> Project:
    """Read ``projects/<name>/pyproject.toml``.

    Raises:
        ValueError: the file is missing, not TOML, or has no ``[project] name``.
    """
    directory = root / "projects" / name
    pyproject = directory / "pyproject.toml"
    try:
        with pyproject.open("rb") as handle:
            distribution = tomllib.load(handle)["project"]["name"]
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError) as exc:
        raise ValueError(
            f"projects/{name}/pyproject.toml: cannot read [project] name ({exc})"
        ) from None
    return Project(name, directory, str(distribution), re.sub(r"[-.]+", "_", distribution).lower())


def check_layout(project: Project) -> list[Problem]:
    """Every standard file and folder exists; files the workspace replaces do not."""
    problems = []
    for pattern in STANDARD_FILES:
        relative = pattern.format(package=project.package, name=project.name)
        if not (project.directory / relative).is_file():
            problems.append(Problem("missing", relative))
    for relative in STANDARD_FOLDERS:
        folder = project.directory / relative
        if not folder.is_dir():
            problems.append(Problem("missing", f"{relative}/"))
        elif not any(p.is_file() for p in folder.rglob("*")):
            problems.append(Problem("missing", f"{relative}/ is empty (git keeps no empty folder)"))
    for relative, reason in MUST_NOT_EXIST.items():
        if (project.directory / relative).exists():
            problems.append(Problem("replaced", f"{relative} must not exist: {reason}"))
    return problems


def check_pyproject(project: Project) -> list[Problem]:
    """``pyproject.toml`` builds the package (it is what replaces ``setup.py``)."""
    with (project.directory / "pyproject.toml").open("rb") as handle:
        data = tomllib.load(handle)
    if "build-backend" not in data.get("build-system", {}):
        return [Problem("packaging", "pyproject.toml has no [build-system] build-backend")]
    return []


def _first_difference(expected: str, found: str) -> str:
    for index, (want, got) in enumerate(
        zip(expected.splitlines(), found.splitlines(), strict=False), start=1
    ):
        if want != got:
            return f"line {index}: expected {want!r}, found {got!r}"
    want_lines, got_lines = len(expected.splitlines()), len(found.splitlines())
    return f"expected {want_lines} lines, found {got_lines}"


def check_requirements(
    root: Path, project: Project, exporter: RequirementsExporter = expected_requirements
) -> list[Problem]:
    """Both requirements files are exactly what ``uv export`` makes of ``uv.lock`` now."""
    fix = f"run `uv run invoke requirements --project={project.name}`"
    problems = []
    for file_name in EXPORTS:
        path = project.directory / file_name
        if not path.is_file():
            problems.append(Problem("requirements", f"missing {file_name}; {fix}"))
            continue
        try:
            expected = exporter(root, project.name, project.distribution, file_name)
        except ExportError as exc:
            problems.append(Problem("requirements", str(exc)))
            continue
        found = path.read_text(encoding="utf-8")
        if found != expected:
            difference = _first_difference(expected, found)
            problems.append(
                Problem("requirements", f"{file_name} differs from uv.lock ({difference}); {fix}")
            )
    return problems


def make_dry_run(directory: Path, target: str) -> subprocess.CompletedProcess[str]:
    """What ``make -n TARGET`` would run in ``directory`` (includes and variables resolved)."""
    make = shutil.which("make") or "make"
    return subprocess.run(  # noqa: S603 - fixed argv
        [
            make,
            "--no-print-directory",
            "-n",
            "-C",
            str(directory),
            target,
            "INPUT=in",
            "OUTPUT=out",
        ],
        capture_output=True,
        text=True,
        check=False,
    )


def check_makefile(project: Project, task_names: frozenset[str]) -> list[Problem]:
    """Each standard target runs ``uv run invoke <target> --project=<name>``; no unknown tasks.

    Asks make itself (``make -n``), so a Makefile that includes the shared
    ``make/project.mk`` is judged by what its targets really run.
    """
    path = project.directory / "Makefile"
    if not path.is_file():
        return [Problem("makefile", "missing Makefile")]
    if shutil.which("make") is None:
        return [Problem("makefile", "cannot check the Makefile: `make` is not installed")]
    text = path.read_text(encoding="utf-8")
    problems = []
    for target in (t for t in MAKE_TARGETS if t in task_names):
        command = f"uv run invoke {target} --project={project.name}"
        dry_run = make_dry_run(project.directory, target)
        if dry_run.returncode != 0:
            problems.append(Problem("makefile", f"no target {target!r} (should run `{command}`)"))
        elif command not in dry_run.stdout:
            problems.append(Problem("makefile", f"target {target!r} does not run `{command}`"))
    problems.extend(
        Problem("makefile", problem) for problem in _command_problems(text, project, task_names)
    )
    return problems


def _command_problems(text: str, project: Project, task_names: frozenset[str]) -> list[str]:
    """``invoke <task>`` names a task; ``--project=X`` names this project or ``all``."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        for match in _INVOKE_TASK.finditer(line):
            task = match["task"].rstrip(".-")
            if task not in task_names:
                found.append(f"line {number}: `invoke {task}`: no such task")
        for match in _PROJECT_OPTION.finditer(line):
            value = match["value"].rstrip(".:")
            if value not in {project.name, "all"}:
                found.append(f"line {number}: --project={value} (expected {project.name} or all)")
    return found


def check_docs(project: Project, task_names: frozenset[str]) -> list[Problem]:
    """The docs exist, and the commands they show name real tasks and this project."""
    problems = [
        Problem("docs", f"missing {relative}")
        for relative in REQUIRED_DOCS
        if not (project.directory / relative).is_file()
    ]
    pages = [project.directory / "README.md", *sorted((project.directory / "docs").glob("*.md"))]
    for page in (p for p in pages if p.is_file()):
        relative = page.relative_to(project.directory).as_posix()
        problems.extend(
            Problem("docs", f"{relative} {problem}")
            for problem in _command_problems(page.read_text(encoding="utf-8"), project, task_names)
        )
    return problems


_LOAD_CONFIGS = """
import importlib, json, os, sys
package, environments = sys.argv[1], json.loads(sys.argv[2])
def line(exc):
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")
try:
    module = importlib.import_module(package + ".settings")
except Exception as exc:
    print(json.dumps([["", f"cannot import {package}.settings: {line(exc)}"]]))
    raise SystemExit(0)
load = getattr(module, "load", None) or getattr(getattr(module, "BINDING", None), "load", None)
if not callable(load):
    print(json.dumps([["", f"{package}.settings has neither load() nor BINDING.load()"]]))
    raise SystemExit(0)
failures = []
for label, env in environments:
    os.environ.pop("MEDAI_ENV", None)
    if env is not None:
        os.environ["MEDAI_ENV"] = env
    try:
        load()
    except Exception as exc:
        failures.append([label, line(exc)])
print(json.dumps(failures))
"""


def config_environment(project: Project, environ: Mapping[str, str]) -> dict[str, str]:
    """The subprocess environment: no ``MEDAI_*`` overrides, the project's ``src/`` importable.

    The check is about the committed config files, not the caller's shell; ``src/`` on
    the path lets a project that is not installed yet be checked too.
    """
    clean = {k: v for k, v in environ.items() if not k.startswith("MEDAI_")}
    source = str(project.directory / "src")
    clean["PYTHONPATH"] = os.pathsep.join(p for p in (source, environ.get("PYTHONPATH")) if p)
    return clean


def check_configs(project: Project, python: str = sys.executable) -> list[Problem]:
    """The project's settings load with MEDAI_ENV unset, development and production.

    The settings module is ``<package>.settings``; it loads with its ``load()`` or, in
    projects built on ``medai.project``, its ``BINDING.load()``.

    Runs in a subprocess of the workspace venv's interpreter so a project that fails to
    import cannot break the check of the others.
    """
    try:
        result = subprocess.run(  # noqa: S603 - this interpreter, fixed code
            [python, "-c", _LOAD_CONFIGS, project.package, json.dumps(CONFIG_ENVIRONMENTS)],
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
            env=config_environment(project, os.environ),
            cwd=project.directory,
        )
    except subprocess.TimeoutExpired:
        return [Problem("config", f"loading {project.package}.settings took over 300 s")]
    try:
        failures: list[list[str]] = json.loads(result.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        last = (result.stderr.strip().splitlines() or [f"exit status {result.returncode}"])[-1]
        return [Problem("config", f"loading {project.package}.settings crashed: {last}")]
    return [Problem("config", f"{label}: {msg}" if label else msg) for label, msg in failures]


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - fixed git argv
        ["git", *args],  # noqa: S607 - git from PATH, as every developer runs it
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def committed_problem(relative: str, size: int) -> str | None:
    """Why a committed file (path relative to its project) must not be in git; ``None``: fine."""
    name = relative.lower()
    first = relative.split("/", 1)[0]
    if first in RUNTIME_FOLDERS:
        return f"{relative}: {first}/ is created at run time and git-ignored"
    if relative.startswith(FIXTURES):
        if size > MAX_FIXTURE_BYTES:
            return f"{relative}: a test fixture over {MAX_FIXTURE_BYTES // 1024} KB"
        return None
    doc_image = relative.startswith(DOC_IMAGES) and name.endswith(IMAGE_SUFFIXES)
    if name.endswith((*WEIGHT_AND_DATA_SUFFIXES, *IMAGE_SUFFIXES)) and not doc_image:
        return f"{relative}: weights and data live in MLflow or data/, not in git"
    if size > MAX_FILE_BYTES:
        return f"{relative}: over {MAX_FILE_BYTES // (1024 * 1024)} MB"
    return None


def check_committed(root: Path, project: Project) -> list[Problem]:
    """Nothing committed that belongs in MLflow or ``data/``; runtime folders are git-ignored."""
    prefix = f"projects/{project.name}/"
    listed = _git(root, "ls-files", "-z", "--", prefix)
    if listed.returncode != 0:
        reason = (listed.stderr.strip().splitlines() or ["git ls-files failed"])[0]
        return [Problem("committed", f"cannot list committed files: {reason}")]
    problems = []
    for path in (p for p in listed.stdout.split("\0") if p):
        local = root / path
        size = local.stat().st_size if local.is_file() else 0
        problem = committed_problem(path.removeprefix(prefix), size)
        if problem:
            problems.append(Problem("committed", problem))
    probes = {folder: f"{prefix}{folder}/probe" for folder in RUNTIME_FOLDERS}
    ignored = set(_git(root, "check-ignore", "--no-index", *probes.values()).stdout.split())
    problems.extend(
        Problem("committed", f"{folder}/ is not git-ignored")
        for folder, probe in probes.items()
        if probe not in ignored
    )
    return problems


DRIFT_PENDING: Mapping[str, str] = {}
"""Projects the drift check skips for now, each with why; an entry goes once its update lands."""


def check_template_drift(root: Path, project: Project, commit: str | None) -> list[Problem]:
    """The project's template-owned files are what its answers render at ``commit`` (HEAD).

    Only a project made from the template (with ``.copier-answers.yml``) is checked;
    ``commit`` None renders the template files as they are (not a git repository).
    The files a project owns are listed in copier.yml (``tools.template_drift``).
    """
    if not made_from_template(root, project.name) or project.name in DRIFT_PENDING:
        return []
    try:
        drifts = project_drift(root, project.name, commit)
    except ToolError as exc:
        return [Problem("template", str(exc))]
    return [Problem("template drift", drift_detail(project.name, drifts))] if drifts else []


def head_commit(root: Path) -> str | None:
    """HEAD's commit, the current template; None outside a git repository."""
    try:
        return git(root, "rev-parse", "HEAD")
    except ToolError:
        return None


def check_project(
    root: Path,
    name: str,
    *,
    task_names: frozenset[str],
    python: str = sys.executable,
    exporter: RequirementsExporter = expected_requirements,
) -> list[Problem]:
    """Every problem of one project, in rule order (layout first)."""
    try:
        project = read_project(root, name)
    except ValueError as exc:
        return [Problem("packaging", str(exc))]
    return [
        *check_layout(project),
        *check_pyproject(project),
        *check_requirements(root, project, exporter),
        *check_makefile(project, task_names),
        *check_docs(project, task_names),
        *check_configs(project, python),
        *check_committed(root, project),
        *check_template_drift(root, project, head_commit(root)),
    ]


def check_projects(
    root: Path,
    names: Iterable[str],
    *,
    task_names: frozenset[str],
    python: str = sys.executable,
    exporter: RequirementsExporter = expected_requirements,
) -> dict[str, list[Problem]]:
    """Project name -> its problems (an empty list when it complies)."""
    return {
        name: check_project(root, name, task_names=task_names, python=python, exporter=exporter)
        for name in names
    }


def load_task_names(root: Path) -> frozenset[str]:
    """Every task name (and alias) of ``<root>/tasks.py``, as Invoke itself loads it."""
    from invoke.collection import Collection  # noqa: PLC0415 - only the CLI needs Invoke
    from invoke.loader import FilesystemLoader  # noqa: PLC0415

    module, _ = FilesystemLoader(start=str(root)).load("tasks")
    names = Collection.from_module(module).task_names
    return frozenset([*names, *(alias for aliases in names.values() for alias in aliases)])


def format_report(results: Mapping[str, Sequence[Problem]]) -> str:
    """The report: each project with its problems as a list, then one summary line."""
    lines = []
    for name, problems in results.items():
        if not problems:
            lines.append(f"{name}: ok")
            continue
        lines.append(f"{name}: {len(problems)} problem{'s' if len(problems) > 1 else ''}")
        lines.extend(f"  - {problem}" for problem in problems)
    failing = [name for name, problems in results.items() if problems]
    total = sum(len(p) for p in results.values())
    if failing:
        lines.append(
            f"structure check failed: {total} problems in {', '.join(failing)} "
            "(rules: docs/project-structure.md)"
        )
    else:
        lines.append(f"structure check passed: {', '.join(results) or 'no projects'}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m tools.structure_check [PROJECT ...]``: exit 1 on problems, 2 on bad names."""
    names = list(sys.argv[1:] if argv is None else argv)
    known = known_projects(ROOT)
    unknown = [n for n in names if n not in {*known, "all"}]
    if unknown:
        print(f"unknown project {unknown[0]!r}; known: {', '.join([*known, 'all'])}")  # noqa: T201
        return 2
    selected = known if not names or "all" in names else names
    results = check_projects(ROOT, selected, task_names=load_task_names(ROOT))
    print(format_report(results))  # noqa: T201
    return 1 if any(results.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
