"""The drift check: a project's template-owned files are what its answers render today.

Each project here is rendered for real (copier) into a throwaway repo root that holds the
work tree's copier.yml, template/ and ruff config, and is tidied as ``invoke new`` tidies.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from tools.answers import answers_path
from tools.errors import ToolError
from tools.new_project import render_layers, tidy_imports
from tools.template_drift import Drift, drift_report, owned_patterns, project_drift
from tools.template_update import quote_numeric_commits

NAME = "probe-x"


def _template_root(repo_root: Path, folder: Path) -> Path:
    """A repo root with the work tree's template and ruff config, not a git repository."""
    folder.mkdir()
    shutil.copy2(repo_root / "copier.yml", folder / "copier.yml")
    shutil.copy2(repo_root / "pyproject.toml", folder / "pyproject.toml")
    shutil.copytree(repo_root / "template", folder / "template", symlinks=True)
    return folder


def _render(root: Path, kind: str, commit: str | None) -> Path:
    """``projects/probe-x`` rendered and tidied as ``invoke new`` does."""
    render_layers(root, Path("projects") / NAME, {"project_name": NAME, "kind": kind}, commit)
    tidy_imports(root, NAME)
    return root / "projects" / NAME


@pytest.fixture(scope="module", params=["segmentation", "classification"])
def rendered(repo_root, tmp_path_factory, request) -> Path:
    """A root with a freshly rendered project of each kind (rendered once per module)."""
    root = _template_root(repo_root, tmp_path_factory.mktemp(request.param) / "root")
    _render(root, request.param, None)
    return root


@pytest.fixture
def root(rendered, tmp_path) -> Path:
    """A copy of the rendered root the test may edit."""
    copy = tmp_path / "root"
    shutil.copytree(rendered, copy, symlinks=True)
    return copy


def test_a_freshly_rendered_project_is_in_step(root):
    assert project_drift(root, NAME, None) == []


def test_an_edited_or_removed_template_owned_file_is_named(root):
    project = root / "projects" / NAME
    health = project / "src/probe_x/api/routes/health.py"
    health.write_text(health.read_text() + "# a local tweak\n")
    (project / "scripts/train.py").unlink()

    drifts = project_drift(root, NAME, None)

    assert drifts == [
        Drift("scripts/train.py", "missing"),
        Drift("src/probe_x/api/routes/health.py", "differs"),
    ]
    report = drift_report(NAME, drifts)
    assert "scripts/train.py (missing), src/probe_x/api/routes/health.py (differs)" in report
    assert "uv run invoke update-template --project=probe-x" in report


def test_a_template_owned_script_that_lost_its_executable_bit_differs(root):
    script = root / "projects" / NAME / "docker/scripts/build.sh"
    script.chmod(0o644)
    assert project_drift(root, NAME, None) == [Drift("docker/scripts/build.sh", "differs")]


def test_edits_of_project_owned_files_and_extra_files_are_not_drift(root):
    project = root / "projects" / NAME
    for owned in (
        "src/probe_x/models/probe_x.py",
        "src/probe_x/data/dataset.py",
        "src/probe_x/settings.py",
        "configs/base.yaml",
        "docs/API.md",
        "README.md",
        "pyproject.toml",
        "tests/unit/test_settings.py",
    ):
        path = project / owned
        path.write_text(path.read_text() + "\n# the project's own\n")
    (project / "src/probe_x/data/phantom.py").write_text('"""A generator of its own."""\n')
    assert project_drift(root, NAME, None) == []


def _git(root: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],  # noqa: S607
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


@pytest.fixture
def template_repo(repo_root, tmp_path) -> tuple[Path, str, str]:
    """A git repo of the template with two commits: ``(root, old, new)``.

    The new commit changes one template-owned file (the health route's docstring).
    """
    root = _template_root(repo_root, tmp_path / "repo")
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", "copier.yml", "pyproject.toml", "template")
    _git(root, "commit", "-q", "-m", "template")
    old = _git(root, "rev-parse", "HEAD")
    health = root / "template/common/src/{{package_name}}/api/routes/health.py.jinja"
    health.write_text(health.read_text().replace('"""', '"""Changed: ', 1))
    _git(root, "commit", "-q", "-am", "a template change")
    return root, old, _git(root, "rev-parse", "HEAD")


def _set_recorded_commit(project: Path, commit: str) -> None:
    for layer in ("common", "kind"):
        path = answers_path(project.parents[1], project.name, layer)
        answers = yaml.safe_load(path.read_text())
        path.write_text(yaml.safe_dump({**answers, "_commit": commit}))


@pytest.mark.slow
def test_the_check_is_about_content_not_the_recorded_commit(template_repo):
    root, old, new = template_repo
    project = _render(root, "segmentation", new)
    _set_recorded_commit(project, old)
    assert project_drift(root, NAME, new) == []


@pytest.mark.slow
def test_a_project_in_step_with_an_old_commit_drifts_from_the_current_one(template_repo):
    root, old, new = template_repo
    _render(root, "segmentation", old)
    assert project_drift(root, NAME, new) == [
        Drift(f"src/{NAME.replace('-', '_')}/api/routes/health.py", "differs")
    ]


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (
            "_skip_if_exists: README.md\n",
            r"_skip_if_exists: expected a list of path patterns, got str",
        ),
        ("_project_owned: [1]\n", r"_project_owned: expected a list of path patterns, got list"),
        ("- a\n", r"copier.yml: expected a mapping, got list"),
        ("a: [\n", r"copier.yml: cannot read the template config"),
    ],
)
def test_a_bad_owned_list_is_refused_naming_the_key(tmp_path, config, expected):
    (tmp_path / "copier.yml").write_text(config)
    with pytest.raises(ToolError, match=expected):
        owned_patterns(tmp_path)


def test_the_repo_lists_the_extension_points_as_project_owned(repo_root):
    patterns = owned_patterns(repo_root)
    for extension_point in (
        "src/{{ package_name }}/models/{{ package_name }}.py",
        "src/{{ package_name }}/utils/preprocessing.py",
        "src/{{ package_name }}/utils/metrics.py",
        "src/{{ package_name }}/data/**",
        "src/{{ package_name }}/settings.py",
    ):
        assert extension_point in patterns
    assert "tests/conftest.py" not in patterns  # the shared fixtures stay the template's


def test_update_quotes_a_digits_only_recorded_commit_so_copier_reads_text(tmp_path):
    """cxr-cls recorded ``_commit: 9667696``, a YAML number that copier refuses as a ref."""
    project = tmp_path / "projects" / NAME
    project.mkdir(parents=True)
    common, kind = answers_path(tmp_path, NAME), answers_path(tmp_path, NAME, "kind")
    common.write_text("# header\n_commit: 9667696\n_src_path: .\n")
    kind.write_text("_commit: 03e4c5b\nlayer: kind\n")

    quote_numeric_commits(tmp_path, NAME)

    assert common.read_text() == "# header\n_commit: '9667696'\n_src_path: .\n"
    assert yaml.safe_load(common.read_text())["_commit"] == "9667696"
    assert kind.read_text() == "_commit: 03e4c5b\nlayer: kind\n"
