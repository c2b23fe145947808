"""tools/structure_check.py: every rule passes on a complying project and fails on its breach."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tools.new_project import render_layers, tidy_imports
from tools.structure_check import (
    DRIFT_PENDING,
    MAKE_TARGETS,
    Problem,
    check_makefile,
    check_project,
    check_requirements,
    check_template_drift,
    format_report,
    head_commit,
    load_task_names,
    read_project,
)

DEMO = "demo-proj"
ROOT = Path(__file__).resolve().parents[1]
PROJECTS = sorted(p.parent.name for p in ROOT.glob("projects/*/pyproject.toml"))


DEMO_TASKS = frozenset(MAKE_TARGETS) - {"build", "deploy"}
"""As the demo workspace's Makefile has them (conftest): the tasks that exist today."""


def problems_of(root, rule=None):
    found = check_project(root, DEMO, task_names=DEMO_TASKS)
    return [p.detail for p in found if rule is None or p.rule == rule]


def project_dir(root):
    return root / "projects" / DEMO


def test_a_complying_project_has_no_problems(demo_workspace):
    assert check_project(demo_workspace, DEMO, task_names=DEMO_TASKS) == []


def test_every_missing_standard_item_is_listed_at_once(demo_workspace):
    project = project_dir(demo_workspace)
    (project / "docker" / "Dockerfile").unlink()
    (project / "scripts" / "deploy.py").unlink()
    (project / "src" / "demo_proj" / "models" / "demo_proj.py").unlink()
    (project / "docs" / "images" / ".gitkeep").unlink()
    (project / "docs" / "DEPLOYMENT.md").unlink()

    assert problems_of(demo_workspace, "missing") == [
        "src/demo_proj/models/demo_proj.py",
        "docker/Dockerfile",
        "scripts/deploy.py",
        "docs/images/ is empty (git keeps no empty folder)",
    ]
    assert problems_of(demo_workspace, "docs") == ["missing docs/DEPLOYMENT.md"]


def test_files_the_workspace_replaces_must_not_exist(demo_workspace):
    project = project_dir(demo_workspace)
    (project / "setup.py").write_text("from setuptools import setup\nsetup()\n")
    (project / "tests" / "__init__.py").write_text("")

    details = problems_of(demo_workspace, "replaced")
    assert [d.split(" must not exist")[0] for d in details] == ["setup.py", "tests/__init__.py"]


def test_pyproject_must_have_a_build_backend(demo_workspace):
    pyproject = project_dir(demo_workspace) / "pyproject.toml"
    text = pyproject.read_text()
    pyproject.write_text(text[: text.index("[build-system]")])

    assert problems_of(demo_workspace, "packaging") == [
        "pyproject.toml has no [build-system] build-backend"
    ]


def test_stale_or_missing_requirements_are_reported_with_the_fix(demo_workspace):
    project = project_dir(demo_workspace)
    with (project / "requirements.txt").open("a") as handle:
        handle.write("numpy==1.26.0\n")
    (project / "requirements-dev.txt").unlink()

    fix = f"run `uv run invoke requirements --project={DEMO}`"
    assert problems_of(demo_workspace, "requirements") == [
        f"requirements.txt differs from uv.lock (expected 4 lines, found 5); {fix}",
        f"missing requirements-dev.txt; {fix}",
    ]


def test_a_changed_pin_names_the_line(demo_workspace):
    path = project_dir(demo_workspace) / "requirements.txt"
    lines = path.read_text().splitlines(keepends=True)
    lines[0] = "# edited by hand\n"
    path.write_text("".join(lines))

    (detail,) = problems_of(demo_workspace, "requirements")
    assert detail.startswith("requirements.txt differs from uv.lock (line 1: expected '# Generated")
    assert detail.endswith(
        "found '# edited by hand'); run `uv run invoke requirements --project=demo-proj`"
    )


def test_makefile_targets_must_delegate_to_the_task_and_name_real_tasks(
    demo_workspace, makefile_for
):
    makefile = project_dir(demo_workspace) / "Makefile"
    text = makefile_for(DEMO, DEMO_TASKS - {"serve"})
    text = text.replace("uv run invoke train --project=demo-proj", "python scripts/train.py")
    makefile.write_text(text + "deploy:\n\tuv run invoke deploy --project=demo-proj\n")

    assert problems_of(demo_workspace, "makefile") == [
        "target 'train' does not run `uv run invoke train --project=demo-proj`",
        "no target 'serve' (should run `uv run invoke serve --project=demo-proj`)",
        f"line {text.count(chr(10)) + 2}: `invoke deploy`: no such task",
    ]


def test_makefile_targets_follow_the_tasks_that_exist(demo_workspace):
    project = read_project(demo_workspace, DEMO)

    assert check_makefile(project, DEMO_TASKS) == []
    assert check_makefile(project, DEMO_TASKS | {"deploy"}) == [
        Problem(
            "makefile", "no target 'deploy' (should run `uv run invoke deploy --project=demo-proj`)"
        )
    ]


def test_a_makefile_that_includes_shared_targets_is_judged_by_what_make_runs(demo_workspace):
    project = read_project(demo_workspace, DEMO)
    shared = demo_workspace / "make" / "targets.mk"
    shared.parent.mkdir()
    shared.write_text(
        "".join(f"{t}:\n\tuv run invoke {t} --project=$(PROJECT)\n" for t in sorted(DEMO_TASKS))
    )
    makefile = project.directory / "Makefile"
    makefile.write_text(f"PROJECT := {DEMO}\ninclude ../../make/targets.mk\n")
    assert check_makefile(project, DEMO_TASKS) == []

    makefile.write_text("PROJECT := other\ninclude ../../make/targets.mk\n")
    assert Problem(
        "makefile", "target 'train' does not run `uv run invoke train --project=demo-proj`"
    ) in check_makefile(project, DEMO_TASKS)


def test_docs_must_name_real_tasks_and_this_project(demo_workspace):
    project = project_dir(demo_workspace)
    (project / "docs" / "DEVELOPMENT.md").write_text(
        "Train with `uv run invoke trian --project=demo-proj`.\n"
        "\n"
        "    uv run invoke evaluate --project=ct-seg\n"
        "    invoke test --project=all\n"
        "Invoke tasks wrap nox; the invoke docs say more.\n"
    )

    assert problems_of(demo_workspace, "docs") == [
        "docs/DEVELOPMENT.md line 1: `invoke trian`: no such task",
        "docs/DEVELOPMENT.md line 3: --project=ct-seg (expected demo-proj or all)",
    ]


def test_a_config_that_does_not_load_is_reported_per_environment(demo_workspace, monkeypatch):
    monkeypatch.setenv("MEDAI_ENV", "development")  # the caller's shell must not matter
    (project_dir(demo_workspace) / "configs" / "production.yaml").write_text(
        "train:\n  epochs: x\n"
    )

    assert problems_of(demo_workspace, "config") == [
        (
            "MEDAI_ENV=production: ConfigError: projects/demo-proj/configs/production.yaml: "
            "train.epochs: Input should be a valid integer (got 'x')"
        )
    ]


def test_settings_may_load_through_a_project_binding(demo_workspace):
    settings = project_dir(demo_workspace) / "src" / "demo_proj" / "settings.py"
    settings.write_text(
        "class Binding:\n"
        "    def load(self):\n"
        "        raise ValueError('configs/base.yaml: seed: got -1')\n"
        "\n"
        "BINDING = Binding()\n"
    )
    expected = "ValueError: configs/base.yaml: seed: got -1"
    assert problems_of(demo_workspace, "config") == [
        f"MEDAI_ENV unset: {expected}",
        f"MEDAI_ENV=development: {expected}",
        f"MEDAI_ENV=production: {expected}",
    ]


def test_a_settings_module_without_a_loader_is_reported(demo_workspace):
    settings = project_dir(demo_workspace) / "src" / "demo_proj" / "settings.py"
    settings.write_text("SEED = 1\n")

    assert problems_of(demo_workspace, "config") == [
        "demo_proj.settings has neither load() nor BINDING.load()"
    ]


def test_a_project_whose_settings_do_not_import_is_one_line(demo_workspace):
    settings = project_dir(demo_workspace) / "src" / "demo_proj" / "settings.py"
    settings.write_text("import not_a_module_anywhere\n")

    assert problems_of(demo_workspace, "config") == [
        (
            "cannot import demo_proj.settings: ModuleNotFoundError: "
            "No module named 'not_a_module_anywhere'"
        )
    ]


def test_committed_weights_data_and_large_files_are_named(demo_workspace, git):
    project = project_dir(demo_workspace)
    files = {
        "src/demo_proj/models/best.pt": b"weights",
        "tests/fixtures/sample_images/ct.nii.gz": b"small fixture",
        "tests/fixtures/sample_models/big.npy": b"x" * (300 * 1024),
        "docs/images/pipeline.png": b"png",
        "notebooks/exploration/figure.png": b"png",
        "configs/huge.yaml": b"#" * (1024 * 1024 + 1),
        "data/raw/cases.csv": b"id\n1\n",
    }
    for relative, content in files.items():
        path = project / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    git(demo_workspace, "add", "-A")
    git(demo_workspace, "add", "-f", f"projects/{DEMO}/data/raw/cases.csv")

    assert sorted(problems_of(demo_workspace, "committed")) == [
        "configs/huge.yaml: over 1 MB",
        "data/raw/cases.csv: data/ is created at run time and git-ignored",
        "notebooks/exploration/figure.png: weights and data live in MLflow or data/, not in git",
        "src/demo_proj/models/best.pt: weights and data live in MLflow or data/, not in git",
        "tests/fixtures/sample_models/big.npy: a test fixture over 256 KB",
    ]


def test_runtime_folders_must_be_git_ignored(demo_workspace):
    (demo_workspace / ".gitignore").write_text("outputs/\n")

    assert problems_of(demo_workspace, "committed") == [
        "data/ is not git-ignored",
        "mlruns/ is not git-ignored",
    ]


def test_outside_a_git_work_tree_the_committed_rule_says_so(demo_workspace):
    (demo_workspace / ".git").rename(demo_workspace / "not-git")

    (detail,) = problems_of(demo_workspace, "committed")
    assert detail.startswith("cannot list committed files: fatal: not a git repository")


def test_unreadable_pyproject_is_the_only_problem(demo_workspace):
    (project_dir(demo_workspace) / "pyproject.toml").write_text("[project\n")

    (problem,) = check_project(demo_workspace, DEMO, task_names=DEMO_TASKS)
    assert problem.rule == "packaging"
    assert problem.detail.startswith(
        "projects/demo-proj/pyproject.toml: cannot read [project] name"
    )


def test_report_lists_problems_under_their_project_and_sums_up():
    report = format_report(
        {
            "a": [Problem("missing", "docker/Dockerfile"), Problem("docs", "missing README.md")],
            "b": [],
        }
    )
    assert report.splitlines() == [
        "a: 2 problems",
        "  - missing: docker/Dockerfile",
        "  - docs: missing README.md",
        "b: ok",
        "structure check failed: 2 problems in a (rules: docs/project-structure.md)",
    ]
    assert format_report({"a": [], "b": []}).splitlines()[-1] == "structure check passed: a, b"


def test_task_names_come_from_invokes_own_loading_of_tasks_py(repo_root):
    names = load_task_names(repo_root)
    assert {"train", "evaluate", "check", "requirements", "report"} <= names
    assert "known_projects" not in names


@pytest.mark.parametrize("name", PROJECTS)
def test_every_projects_requirements_match_the_lock_and_its_makefile_delegates(repo_root, name):
    project = read_project(repo_root, name)
    assert check_requirements(repo_root, project) == []
    assert check_makefile(project, load_task_names(repo_root)) == []


def test_command_line_refuses_an_unknown_project(repo_root):
    result = subprocess.run(
        [sys.executable, "-m", "tools.structure_check", "nope"],
        cwd=repo_root,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stdout.startswith("unknown project 'nope'; known: ")


@pytest.fixture
def rendered_root(repo_root, tmp_path) -> Path:
    """A root (not a git repository) with the work tree's template and a fresh probe-seg."""
    root = tmp_path / "root"
    root.mkdir()
    shutil.copy2(repo_root / "copier.yml", root / "copier.yml")
    shutil.copy2(repo_root / "pyproject.toml", root / "pyproject.toml")
    shutil.copytree(repo_root / "template", root / "template", symlinks=True)
    answers = {"project_name": "probe-seg", "kind": "segmentation"}
    render_layers(root, Path("projects/probe-seg"), answers, None)
    tidy_imports(root, "probe-seg")
    return root


def test_a_project_drifting_from_the_template_is_one_problem_naming_files_and_fix(
    rendered_root,
):
    project = read_project(rendered_root, "probe-seg")
    assert check_template_drift(rendered_root, project, None) == []

    health = project.directory / "src/probe_seg/api/routes/health.py"
    health.write_text(health.read_text() + "# edited here\n")
    (project.directory / "configs/base.yaml").write_text("# the project's own\n")  # owned

    [problem] = check_template_drift(rendered_root, project, None)
    assert problem.rule == "template drift"
    assert "src/probe_seg/api/routes/health.py (differs)" in problem.detail
    assert "configs/base.yaml" not in problem.detail
    assert "uv run invoke update-template --project=probe-seg" in problem.detail


def test_unreadable_answers_are_one_template_problem_naming_the_file(rendered_root):
    project = read_project(rendered_root, "probe-seg")
    (project.directory / ".copier-answers.yml").write_text("- not a mapping\n")
    [problem] = check_template_drift(rendered_root, project, None)
    assert problem.rule == "template"
    assert ".copier-answers.yml: expected a mapping of copier answers, got list" in problem.detail


def test_a_project_not_made_from_the_template_is_not_drift_checked(demo_workspace):
    project = read_project(demo_workspace, DEMO)
    assert check_template_drift(demo_workspace, project, head_commit(demo_workspace)) == []


@pytest.mark.slow
@pytest.mark.parametrize("name", [name for name in PROJECTS if name not in DRIFT_PENDING])
def test_every_project_but_the_pending_is_in_step_with_the_current_template(repo_root, name):
    project = read_project(repo_root, name)
    assert check_template_drift(repo_root, project, head_commit(repo_root)) == []


def test_only_projects_of_this_repo_wait_for_their_update_each_with_why():
    assert set(DRIFT_PENDING) <= set(PROJECTS)
    assert all(reason.strip() for reason in DRIFT_PENDING.values())
