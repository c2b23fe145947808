"""`invoke new` / `invoke update-template`: names are checked, failures leave nothing behind.

The unit tests call tools/new_project.py on throwaway folders; the integration tests
render a project with the real template into a temporary clone of this repo (the git
checks and the stack edit have their own files: test_template_git.py,
test_stack_services.py).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from invoke.context import Context
from invoke.exceptions import Exit
from tools import new_project
from tools.errors import ToolError
from tools.new_project import (
    check_kind,
    check_new_project_name,
    failure_summary,
    known_kinds,
    render_layers,
    template_kinds,
    undone_on_failure,
)
from tools.structure_check import check_projects, format_report, load_task_names


@pytest.mark.parametrize(
    "name",
    ["Mri-Seg", "mri_seg", "-mri", "mri-", "mri--seg", "9mri", "mri seg", "a" * 25],
)
def test_malformed_names_are_refused_with_the_rule(tmp_path, name):
    with pytest.raises(ToolError) as caught:
        check_new_project_name(tmp_path, name)
    assert caught.value.code == 2
    assert str(caught.value.message).startswith(f"project name {name!r}: use lower-case letters")


@pytest.mark.parametrize("name", ["shared", "tooling", "all", "medai", "template"])
def test_reserved_names_are_refused(tmp_path, name):
    with pytest.raises(ToolError, match=rf"^project name '{name}' is reserved"):
        check_new_project_name(tmp_path, name)


def test_an_existing_project_folder_is_refused(tmp_path):
    (tmp_path / "projects" / "mri-seg").mkdir(parents=True)
    with pytest.raises(ToolError, match=r"^projects/mri-seg exists already"):
        check_new_project_name(tmp_path, "mri-seg")


def test_a_name_whose_import_name_an_installed_package_owns_is_refused(tmp_path):
    with pytest.raises(
        ToolError, match=r"its import name 'numpy' is taken by an installed package"
    ):
        check_new_project_name(tmp_path, "numpy")


def test_a_free_well_formed_name_passes(tmp_path):
    (tmp_path / "projects" / "ct-seg").mkdir(parents=True)
    assert check_new_project_name(tmp_path, "mri-seg2") is None


def _root_with_registry(root: Path) -> dict[str, bytes]:
    (root / "projects").mkdir(parents=True)
    files = {"pyproject.toml": b'dependencies = ["a"]\n', "uv.lock": b"version = 1\n"}
    for name, content in files.items():
        (root / name).write_bytes(content)
    return files


def _half_register(root: Path, failure: BaseException) -> None:
    """What a failing ``invoke new`` may leave: a folder, an edited pyproject, no lock."""
    with undone_on_failure(root, "x"):
        (root / "projects" / "x" / "src").mkdir(parents=True)
        (root / "pyproject.toml").write_bytes(b'dependencies = ["a", "x[train]"]\n')
        (root / "uv.lock").unlink(missing_ok=True)
        raise failure


def test_a_failure_removes_the_project_and_restores_pyproject_and_lock(tmp_path):
    before = _root_with_registry(tmp_path)
    with pytest.raises(RuntimeError, match="uv add broke"):
        _half_register(tmp_path, RuntimeError("uv add broke"))
    assert not (tmp_path / "projects" / "x").exists()
    assert {name: (tmp_path / name).read_bytes() for name in before} == before


def _interrupted_while_locking(root: Path) -> None:
    with undone_on_failure(root, "x"):
        (root / "projects" / "x").mkdir()
        (root / "uv.lock").write_bytes(b"half-written")
        raise KeyboardInterrupt


def test_an_interrupt_is_undone_too_and_a_lock_made_midway_is_removed(tmp_path):
    (tmp_path / "projects").mkdir()
    (tmp_path / "pyproject.toml").write_bytes(b"[project]\n")
    with pytest.raises(KeyboardInterrupt):
        _interrupted_while_locking(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["projects", "pyproject.toml"]
    assert not any((tmp_path / "projects").iterdir())


def test_success_keeps_everything(tmp_path):
    _root_with_registry(tmp_path)
    with undone_on_failure(tmp_path, "x"):
        (tmp_path / "projects" / "x").mkdir()
        (tmp_path / "uv.lock").write_bytes(b"version = 2\n")
    assert (tmp_path / "projects" / "x").is_dir()
    assert (tmp_path / "uv.lock").read_bytes() == b"version = 2\n"


def test_an_unknown_kind_stops_the_task_before_anything_is_written(tasks, repo_root):
    with pytest.raises(Exit, match=r"^unknown kind 'nope'; known: classification, segmentation$"):
        tasks.new(Context(), project="new-probe", kind="nope")
    assert not (repo_root / "projects" / "new-probe").exists()


def test_a_kind_is_registered_in_medai_kinds_and_has_a_template_folder(tmp_path, repo_root):
    kinds = tmp_path / "template" / "kinds"
    assert known_kinds(tmp_path) == ()
    for name in ("segmentation", "detection"):
        (kinds / name).mkdir(parents=True)
    (kinds / "README.md").write_text("a file, not a kind\n")

    # detection has a folder but no registry entry; classification the other way round.
    assert template_kinds(tmp_path) == ("detection", "segmentation")
    assert known_kinds(tmp_path) == ("segmentation",)
    assert check_kind(tmp_path, "segmentation") is None
    expected = {
        "README.md": "unknown kind 'README.md'; known: segmentation",
        "detection": "kind 'detection' has a template folder (template/kinds/detection) but "
        "no medai.kinds registry entry; known: segmentation",
        "classification": "kind 'classification' is registered in medai.kinds but has no "
        "template folder template/kinds/classification; known: segmentation",
    }
    for kind, message in expected.items():
        with pytest.raises(ToolError) as caught:
            check_kind(tmp_path, kind)
        assert caught.value.message == message
        assert caught.value.code == 2
    assert known_kinds(repo_root) == ("classification", "segmentation")


def test_a_failed_tool_is_summed_up_by_its_error_and_cause_lines():
    uv = subprocess.CompletedProcess(
        ["uv"],
        1,
        stdout="",
        stderr="error: Failed to add dependencies\n  cause: No solution found\n\nhint: --frozen\n",
    )
    expected = "error: Failed to add dependencies; cause: No solution found"
    assert failure_summary(uv) == expected
    plain = subprocess.CompletedProcess(["ruff"], 2, stdout="checked\nbroken file\n", stderr="")
    assert failure_summary(plain) == "broken file"


def test_a_failed_step_stops_with_its_summary_and_its_exit_status(tmp_path):
    fails = [sys.executable, "-c", "import sys; print('error: no lock here'); sys.exit(3)"]
    with pytest.raises(ToolError) as caught:
        new_project.run_step(fails, tmp_path, "uv lock")
    assert (caught.value.message, caught.value.code) == ("uv lock failed: error: no lock here", 3)
    assert new_project.run_step([sys.executable, "-c", "pass"], tmp_path, "ok") is None


# ----------------------------------------------------------------------------- a real render

TEMPLATE_FILES = ("copier.yml", "template", "tasks.py", "tools")
"""What is copied from this work tree into the clone (committed or not): the template and
the tasks with the tools they call."""


@pytest.fixture
def repo_clone(repo_root, tmp_path, git) -> Path:
    """A clone of this repo's HEAD with the work tree's TEMPLATE_FILES committed in it."""
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "--no-hardlinks", str(repo_root), str(clone))
    for name in TEMPLATE_FILES:
        source, target = repo_root / name, clone / name
        if source.is_dir():
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(source, target, symlinks=True)
        else:
            shutil.copy2(source, target)
    git(clone, "add", "-A", *TEMPLATE_FILES)
    git(clone, "commit", "-q", "--allow-empty", "-m", "the template under test")
    return clone


def _invoke(clone: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEDAI_", "VIRTUAL_ENV"))}
    return subprocess.run(
        [sys.executable, "-m", "invoke", *args],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _assert_answers_name_head(answers: str, clone: Path, git) -> None:
    """The answers' ``_commit`` resolves to the clone's HEAD.

    copier records ``git describe --tags --always``: a bare short hash, or ``TAG-N-gHASH``
    when the clone carries tags (CI's clones do), so the text is resolved, not compared.
    The file is read as the YAML it is: a hash of digits only is written quoted.
    """
    recorded = yaml.safe_load(answers).get("_commit")
    assert recorded, answers
    head = git(clone, "rev-parse", "HEAD").strip()
    assert git(clone, "rev-parse", f"{recorded}^{{commit}}").strip() == head


@pytest.mark.integration
def test_new_renders_a_project_that_passes_the_structure_check(repo_clone, git):
    created = _invoke(repo_clone, "new", "--project=probe-seg", "--kind=segmentation")
    assert created.returncode == 0, created.stderr[-2000:]
    assert "uv run nox -s tests -- probe-seg" in created.stdout

    project = repo_clone / "projects" / "probe-seg"
    answers = (project / ".copier-answers.yml").read_text()
    _assert_answers_name_head(answers, repo_clone, git)
    assert "_src_path: ." in answers
    assert "kind: segmentation" in answers
    assert "layer: common" in answers
    kind_answers = (project / ".copier-answers.kind.yml").read_text()
    _assert_answers_name_head(kind_answers, repo_clone, git)
    assert "layer: kind" in kind_answers
    assert "kind: segmentation" in kind_answers
    dockerfile = project / "docker" / "Dockerfile"
    assert dockerfile.readlink() == Path("../../../docker/Dockerfile.project")
    assert dockerfile.resolve() == repo_clone / "docker" / "Dockerfile.project"
    assert os.access(project / "scripts" / "setup" / "install_dependencies.sh", os.X_OK)
    root_pyproject = (repo_clone / "pyproject.toml").read_text()
    assert '"probe-seg[train]"' in root_pyproject
    assert "probe-seg = { workspace = true }" in root_pyproject
    assert 'name = "probe-seg"' in (repo_clone / "uv.lock").read_text()
    stack = yaml.safe_load((repo_clone / "docker" / "docker-compose.yml").read_text())
    assert stack["services"]["probe-seg"]["build"]["args"] == {"PROJECT": "probe-seg"}

    git(repo_clone, "add", "-A")
    tracked = git(repo_clone, "ls-files", "projects/probe-seg").split()
    assert "projects/probe-seg/src/probe_seg/data/dataset.py" in tracked  # not git-ignored
    assert "projects/probe-seg/docker/Dockerfile" in tracked

    results = check_projects(
        repo_clone, ["probe-seg"], task_names=load_task_names(repo_clone)
    )  # includes loading its settings in development and production
    assert results == {"probe-seg": []}, format_report(results)
    _assert_lint_and_types_clean(repo_clone, project, "probe_seg")

    again = _invoke(repo_clone, "new", "--project=probe-seg")
    assert again.returncode == 2
    assert "projects/probe-seg exists already" in again.stderr


@pytest.mark.integration
def test_a_classification_project_renders_its_own_kit_files_and_passes_the_check(repo_clone, git):
    created = _invoke(repo_clone, "new", "--project=probe-cls", "--kind=classification")
    assert created.returncode == 0, created.stderr[-2000:]

    project = repo_clone / "projects" / "probe-cls"
    assert "kind: classification" in (project / ".copier-answers.yml").read_text()
    assert "target:" not in (project / ".copier-answers.yml").read_text()
    settings = (project / "src" / "probe_cls" / "settings.py").read_text()
    assert 'ClassificationProject(BINDING, prepare_dataset, "radiograph", SHAPES)' in settings
    assert "medai.segmentation" not in settings
    assert (project / "tests" / "unit" / "test_data.py").is_file()
    assert "labels: [blob, ring, bar]" in (project / "configs" / "base.yaml").read_text()
    assert "auroc_macro" in (project / "docs" / "DEPLOYMENT.md").read_text()
    git(repo_clone, "add", "-A")
    results = check_projects(repo_clone, ["probe-cls"], task_names=load_task_names(repo_clone))
    assert results == {"probe-cls": []}, format_report(results)
    _assert_lint_and_types_clean(repo_clone, project, "probe_cls")


def _assert_lint_and_types_clean(clone: Path, project: Path, package: str) -> None:
    """What CI's lint and typecheck sessions ask of the rendered project: ruff and mypy --strict.

    mypy reads the package from its src folder (it is not installed in this venv), with
    the clone's configuration.
    """
    relative = str(project.relative_to(clone))
    for command in (
        [sys.executable, "-m", "ruff", "check", relative],
        [sys.executable, "-m", "ruff", "format", "--check", relative],
        [sys.executable, "-m", "mypy", "-p", package],
    ):
        done = subprocess.run(
            command,
            cwd=clone,
            env={**os.environ, "MYPYPATH": str(project / "src")},
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, (command, done.stdout[-3000:], done.stderr[-2000:])


def test_a_segmentation_render_has_no_classification_only_file(repo_root, tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    shutil.copy2(repo_root / "copier.yml", source / "copier.yml")
    shutil.copytree(repo_root / "template", source / "template", symlinks=True)
    target = tmp_path / "probe-seg"
    render_layers(source, target, {"project_name": "probe-seg", "kind": "segmentation"}, None)
    assert (target / "tests" / "unit" / "test_models.py").is_file()
    assert not (target / "tests" / "unit" / "test_data.py").exists()
    assert "medai.classification" not in (target / "src" / "probe_seg" / "settings.py").read_text()


PREDICT_ROUTE = "src/probe_seg/api/routes/predict.py"
TEMPLATE_ROUTE = "src/{{package_name}}/api/routes/predict.py.jinja"


@pytest.mark.integration
def test_update_template_merges_a_template_change_and_keeps_the_projects_own_edit(repo_clone, git):
    assert _invoke(repo_clone, "new", "--project=probe-seg").returncode == 0
    # A template-owned file of the kind layer (README.md and docs/ are the project's own).
    route = repo_clone / "projects" / "probe-seg" / PREDICT_ROUTE
    route.write_text("# Owned by QA.\n" + route.read_text())
    git(repo_clone, "add", "-A")
    git(repo_clone, "commit", "-qm", "probe-seg, with its own line in a template-owned file")
    template_route = repo_clone / "template" / "kinds" / "segmentation" / TEMPLATE_ROUTE
    template_route.write_text(template_route.read_text() + "\n# Template footer.\n")
    git(repo_clone, "commit", "-qam", "template: a footer in the predict route")

    updated = _invoke(repo_clone, "update-template", "--project=probe-seg")

    assert updated.returncode == 0, updated.stderr[-2000:]
    assert "probe-seg: updated to template commit" in updated.stdout
    assert "merged" in updated.stdout
    text = route.read_text()
    assert text.startswith("# Owned by QA.\n")
    assert text.endswith("# Template footer.\n")
    project = repo_clone / "projects" / "probe-seg"
    _assert_answers_name_head((project / ".copier-answers.yml").read_text(), repo_clone, git)


BEFORE_SPLIT = "8b73ceda2dd327f8da66064b6dd3f485ed550a7b"
"""The last template commit with one tree and no layers (tests/test_template_layers.py)."""


@pytest.mark.integration
def test_update_template_brings_a_project_made_before_the_split_to_both_layers(repo_clone, git):
    """ct-seg, cxr-cls and brain-mri were rendered before the split: one answers file, no layer.

    The update writes the kind layer's answers from the common ones, merges both layers
    (a template change and a project edit in each: both kept, no conflict), and leaves
    HEAD where it was with the changes staged.
    """
    import copier  # noqa: PLC0415 - only the render tests need it

    with contextlib.chdir(repo_clone):
        copier.run_copy(
            ".",
            Path("projects") / "probe-seg",
            data={"project_name": "probe-seg", "kind": "segmentation"},
            defaults=True,
            vcs_ref=BEFORE_SPLIT,
            quiet=True,
        )
    project = repo_clone / "projects" / "probe-seg"
    assert not (project / ".copier-answers.kind.yml").exists()
    assert "layer" not in (project / ".copier-answers.yml").read_text()
    makefile, route = project / "Makefile", project / PREDICT_ROUTE  # common, kind
    makefile.write_text("# probe-seg's own target notes\n" + makefile.read_text())
    route.write_text("# Owned by QA.\n" + route.read_text())
    git(repo_clone, "add", "-A")
    git(repo_clone, "commit", "-qm", "probe-seg, rendered before the split, with its own edits")
    for template_file, footer in (
        ("common/Makefile.jinja", "# template footer (common)\n"),
        (f"kinds/segmentation/{TEMPLATE_ROUTE}", "\n# Template footer.\n"),
    ):
        path = repo_clone / "template" / template_file
        path.write_text(path.read_text() + footer)
    git(repo_clone, "commit", "-qam", "template: a footer in each layer")
    head = git(repo_clone, "rev-parse", "HEAD").strip()

    updated = _invoke(repo_clone, "update-template", "--project=probe-seg")

    assert updated.returncode == 0, updated.stderr[-2000:]
    assert git(repo_clone, "rev-parse", "HEAD").strip() == head
    assert route.read_text().startswith("# Owned by QA.\n")
    assert route.read_text().endswith("# Template footer.\n")
    assert makefile.read_text().startswith("# probe-seg's own target notes\n")
    assert makefile.read_text().endswith("# template footer (common)\n")
    for answers_file, layer in (
        (".copier-answers.yml", "common"),
        (".copier-answers.kind.yml", "kind"),
    ):
        answers = (project / answers_file).read_text()
        _assert_answers_name_head(answers, repo_clone, git)
        assert yaml.safe_load(answers)["layer"] == layer
        assert yaml.safe_load(answers)["kind"] == "segmentation"
    status = {
        line[3:].removeprefix("projects/probe-seg/"): line[:2]
        for line in git(
            repo_clone, "status", "--porcelain", "--", "projects/probe-seg"
        ).splitlines()
    }
    # staged by the checkpoints (tidy_imports may restyle other files, unstaged)
    assert status[".copier-answers.kind.yml"] == "A "
    for path in (".copier-answers.yml", "Makefile", PREDICT_ROUTE):
        assert status[path][0] == "M", status  # staged (ruff may restyle the .py, unstaged)
    assert [path for path, code in status.items() if "U" in code or "?" in code] == []
    leftovers = [p.name for p in project.rglob("*") if p.suffix == ".rej" or ".orig" in p.suffixes]
    assert leftovers == []
    assert "<<<<<<<" not in "".join(p.read_text() for p in project.rglob("*.py"))
