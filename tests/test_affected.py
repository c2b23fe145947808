"""tools/affected.py: which targets a change affects, from real git history; and ci.yml."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from tools.affected import (
    NULL_SHA,
    Affected,
    AffectedError,
    affected_since,
    affected_targets,
    changed_files,
    main,
    matrix,
)
from tools.projects import known_projects

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
PROJECTS = ("ct-seg", "cxr-cls")
EVERYTHING = Affected(PROJECTS, shared=True, tooling=True, images=True)
AFFECTED_COMMAND = (sys.executable, "-m", "tools.affected")
CHECK_WORKFLOW = (
    sys.executable,
    "-m",
    "check_jsonschema",
    "--builtin-schema",
    "vendor.github-workflows",
)


def _flags(affected: Affected) -> Affected:
    """The result without its reasons, to compare with an expectation."""
    return Affected(affected.projects, affected.shared, affected.tooling, affected.images)


# --- the rules, as pure functions -------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("projects/ct-seg/src/ct_seg/models/unet.py", Affected(("ct-seg",), images=True)),
        ("projects/ct-seg/configs/base.yaml", Affected(("ct-seg",), images=True)),
        ("projects/cxr-cls/pyproject.toml", Affected(("cxr-cls",), images=True)),
        ("projects/ct-seg/docker/Dockerfile", Affected(("ct-seg",), images=True)),
        ("projects/ct-seg/scripts/setup/setup_environment.sh", Affected(("ct-seg",), images=True)),
        ("projects/ct-seg/tests/test_unet.py", Affected(("ct-seg",))),
        ("projects/ct-seg/docs/API.md", Affected(("ct-seg",))),
        ("projects/ct-seg/README.md", Affected(("ct-seg",))),
        ("shared/src/medai/io/dicom.py", EVERYTHING),
        ("shared/tests/test_x.py", EVERYTHING),
        ("pyproject.toml", EVERYTHING),
        ("uv.lock", EVERYTHING),
        ("noxfile.py", EVERYTHING),
        ("tasks.py", EVERYTHING),
        (".python-version", EVERYTHING),
        ("configs/base.yaml", EVERYTHING),
        (".ci/run", EVERYTHING),
        (".github/workflows/ci.yml", EVERYTHING),
        ("template/pyproject.toml.jinja", Affected(tooling=True)),
        ("copier.yml", Affected(tooling=True)),
        ("tools/structure_check.py", Affected(tooling=True)),
        ("tools/image_deps.py", Affected(tooling=True, images=True)),
        ("tests/test_tasks.py", Affected(tooling=True)),
        ("make/project.mk", Affected(tooling=True)),
        ("benchmarks/serve_ct_seg.py", Affected(tooling=True)),
        ("docker/Dockerfile.project", Affected(images=True)),
        ("docker/scripts/entrypoint.sh", Affected(images=True)),
        ("deploy/kubernetes/base/deployment.yaml", Affected(images=True)),
        (".dockerignore", Affected(images=True)),
        ("docs/configuration.md", Affected()),
        ("README.md", Affected()),
        (".gitignore", Affected()),
        (".github/CODEOWNERS", Affected()),
    ],
)
def test_each_rule_affects_what_the_table_says(path, expected):
    assert _flags(affected_targets([path], PROJECTS)) == expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("projects/", Affected()),
        ("projects", Affected()),
        ("projects/README.md", Affected()),
        ("projects/unknown/x.py", Affected()),  # deleted or never a project: no checks
        ("projects-old/x.py", Affected()),
        ("shared-notes.md", Affected()),
        ("sharedx/y.py", Affected()),
        ("Projects/ct-seg/x.py", Affected()),  # git paths are case-sensitive
        (".github/workflows-old/ci.yml", Affected()),
        ("projects/ct-seg/shared/x.py", Affected(("ct-seg",), images=True)),
        ("projects/ct-seg/uv.lock", Affected(("ct-seg",), images=True)),
        ("projects/ct-seg/projects/cxr-cls/x.py", Affected(("ct-seg",), images=True)),
        ("docs/shared/x.md", Affected()),
        ("./projects/cxr-cls/tests/t.py", Affected(("cxr-cls",))),
        ("projects/ct-seg/../../uv.lock", EVERYTHING),  # what the path names, not how
        ("", Affected()),
        ("/shared/x.py", Affected()),  # not relative to the repo
        ("../shared/x.py", Affected()),
        ("projects/../../shared/x.py", Affected()),
    ],
)
def test_hostile_paths_match_whole_folder_names_only(path, expected):
    assert _flags(affected_targets([path], PROJECTS)) == expected


def test_projects_keep_the_known_order_and_are_named_once():
    paths = ["projects/cxr-cls/tests/b.py", "projects/ct-seg/tests/a.py", "projects/cxr-cls/c.md"]
    affected = affected_targets(paths, PROJECTS)
    assert affected.projects == ("ct-seg", "cxr-cls")
    assert affected.targets == ("ct-seg", "cxr-cls")


def test_everything_is_in_nox_order_with_shared_first_and_tooling_last(noxfile):
    affected = affected_targets(["uv.lock"], known_projects(ROOT))
    assert affected.targets == tuple(noxfile.TARGETS)


def test_reasons_name_the_first_path_of_each_effect_and_count_the_rest():
    paths = [
        "docs/a.md",
        "projects/ct-seg/tests/t1.py",
        "projects/ct-seg/tests/t2.py",
        "projects/ct-seg/tests/t3.py",
        "shared/src/medai/x.py",
        "README.md",
    ]
    assert affected_targets(paths, PROJECTS).reasons == (
        "shared/src/medai/x.py affects all",
        "projects/ct-seg/tests/t1.py affects ct-seg (and 2 more files)",
        "docs/a.md affects nothing (and 1 more file)",
    )


def test_nothing_changed_gives_no_targets_and_an_empty_matrix():
    affected = affected_targets(["docs/a.md"], PROJECTS)
    assert not affected.has_targets
    assert matrix(affected) == {"target": []}
    assert not affected_targets([], PROJECTS).has_targets


def test_the_matrix_lists_shared_projects_and_tooling():
    affected = affected_targets(["projects/cxr-cls/src/x.py", "tools/x.py"], PROJECTS)
    assert affected.has_targets
    assert matrix(affected) == {"target": ["cxr-cls", "tooling"]}
    assert matrix(affected_targets(["shared/x.py"], ["a"])) == {
        "target": ["shared", "a", "tooling"]
    }


# --- against real git repositories ------------------------------------------------------

MINI_LAYOUT = {
    "pyproject.toml": "[project]\nname = 'root'\n",
    "uv.lock": "version = 1\n",
    ".gitignore": "ignored/\n",
    "projects/a/pyproject.toml": "[project]\nname = 'a'\n",
    "projects/a/src/a/core.py": "A = 1\n",
    "projects/b/pyproject.toml": "[project]\nname = 'b'\n",
    "projects/b/src/b/core.py": "B = 1\n",
    "shared/src/medai/util.py": "def f():\n    return 1\n",
    "docs/index.md": "# docs\n",
}


def _write(root: Path, files: dict[str, str | None]) -> None:
    for name, text in files.items():
        path = root / name
        if text is None:
            path.unlink()
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


@pytest.fixture
def commit(git):
    """``(root, {path: text or None to delete}, message)``: write, stage all, commit."""

    def _commit(root: Path, files: dict[str, str | None], message: str) -> None:
        _write(root, files)
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", message)

    return _commit


@pytest.fixture
def repo(tmp_path, monkeypatch, git, commit) -> Path:
    """A mini monorepo committed on ``main``; HEAD is branch ``feature`` at the same commit."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "no-global-gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    monkeypatch.delenv("GITHUB_OUTPUT", raising=False)
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    commit(root, MINI_LAYOUT, "mini monorepo")
    git(root, "switch", "-q", "-c", "feature")
    return root


def test_a_change_in_one_project_affects_only_it(repo, commit):
    commit(repo, {"projects/a/src/a/core.py": "A = 2\n"}, "a only")
    assert changed_files(repo, "main", include_worktree=False) == ["projects/a/src/a/core.py"]
    affected = affected_since(repo, "main")
    assert matrix(affected) == {"target": ["a"]}
    assert affected.reasons == ("projects/a/src/a/core.py affects a, images",)


def test_a_change_to_the_shared_library_affects_everything(repo, commit):
    commit(repo, {"shared/src/medai/util.py": "def f():\n    return 2\n"}, "shared")
    affected = affected_since(repo, "main")
    assert matrix(affected) == {"target": ["shared", "a", "b", "tooling"]}
    assert affected.images
    assert affected.reasons == ("shared/src/medai/util.py affects all",)


def test_a_move_between_projects_affects_both_even_with_rename_detection_on(repo, git, commit):
    git(repo, "config", "diff.renames", "copies")
    (repo / "projects" / "b" / "src" / "b" / "moved.py").write_text("A = 1\n")
    (repo / "projects" / "a" / "src" / "a" / "core.py").unlink()
    commit(repo, {}, "move core from a to b")
    assert "R100" in git(repo, "diff", "--name-status", "main...HEAD")  # git sees a rename
    assert changed_files(repo, "main", include_worktree=False) == [
        "projects/a/src/a/core.py",
        "projects/b/src/b/moved.py",
    ]
    assert affected_since(repo, "main").projects == ("a", "b")


def test_uncommitted_and_untracked_files_count_only_with_the_worktree(repo, git, commit):
    commit(repo, {"docs/index.md": "# more docs\n"}, "docs")
    _write(repo, {"projects/a/src/a/core.py": "A = 3\n", "ignored/big.bin": "x"})
    git(repo, "add", "projects/a/src/a/core.py")  # staged
    _write(repo, {"projects/b/src/b/core.py": "B = 3\n"})  # unstaged
    _write(repo, {"tools/new_tool.py": "X = 1\n"})  # untracked
    committed = affected_since(repo, "main")
    assert not committed.has_targets
    assert changed_files(repo, "main", include_worktree=True) == [
        "docs/index.md",
        "projects/a/src/a/core.py",
        "projects/b/src/b/core.py",
        "tools/new_tool.py",
    ]
    local = affected_since(repo, "main", include_worktree=True)
    assert local.targets == ("a", "b", "tooling")


def test_a_base_that_moved_on_is_compared_at_the_merge_base(repo, git, commit):
    commit(repo, {"projects/a/src/a/core.py": "A = 2\n"}, "feature work")
    git(repo, "switch", "-q", "main")
    commit(repo, {"shared/src/medai/util.py": "def f():\n    return 3\n"}, "main moves on")
    git(repo, "switch", "-q", "feature")
    # A plain two-point diff would count main's own shared change against the feature.
    assert "shared/src/medai/util.py" in git(repo, "diff", "--name-only", "main", "HEAD")
    assert changed_files(repo, "main", include_worktree=False) == ["projects/a/src/a/core.py"]
    assert affected_since(repo, "main").targets == ("a",)


def test_a_deleted_project_is_dropped(repo, commit):
    commit(
        repo,
        {"projects/b/pyproject.toml": None, "projects/b/src/b/core.py": None},
        "remove project b",
    )
    affected = affected_since(repo, "main")
    assert known_projects(repo) == ["a"]
    assert not affected.has_targets
    assert affected.reasons == ("projects/b/pyproject.toml affects nothing (and 1 more file)",)


def test_a_new_branch_push_with_the_null_sha_affects_everything(repo):
    affected = affected_since(repo, NULL_SHA)
    assert _flags(affected) == Affected(("a", "b"), shared=True, tooling=True, images=True)
    assert "new branch" in affected.reasons[0]


def test_an_unknown_base_says_how_to_fetch_it(repo):
    with pytest.raises(AffectedError, match=r"^base 'origin/main' is not a known commit; fetch it"):
        changed_files(repo, "origin/main", include_worktree=False)
    with pytest.raises(AffectedError, match="fetch-depth: 0"):
        changed_files(repo, "--output=/tmp/x", include_worktree=False)
    with pytest.raises(AffectedError, match=r"^base is empty"):
        changed_files(repo, "", include_worktree=False)


def test_unrelated_histories_have_no_merge_base(repo, git, commit):
    git(repo, "switch", "-q", "--orphan", "elsewhere")
    commit(repo, {"projects/a/src/a/core.py": "A = 9\n"}, "unrelated root")
    with pytest.raises(AffectedError, match=r"^no merge base between 'main' and HEAD: .*unrelated"):
        changed_files(repo, "main", include_worktree=False)


def test_a_shallow_clone_asks_for_the_history(repo, git, commit, tmp_path):
    commit(repo, {"projects/a/src/a/core.py": "A = 2\n"}, "feature work")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "--depth=1", "--branch=feature", repo.as_uri(), str(clone))
    with pytest.raises(AffectedError, match="git fetch origin main"):
        changed_files(clone, "origin/main", include_worktree=False)
    git(clone, "fetch", "-q", "--depth=1", "origin", "main:refs/remotes/origin/main")
    with pytest.raises(AffectedError, match=r"shallow: git fetch --unshallow .*fetch-depth: 0"):
        changed_files(clone, "origin/main", include_worktree=False)
    git(clone, "fetch", "-q", "--unshallow", "origin")
    assert changed_files(clone, "origin/main", include_worktree=False) == [
        "projects/a/src/a/core.py"
    ]


def test_outside_a_repo_or_before_the_first_commit_is_a_clear_error(tmp_path, git, monkeypatch):
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(AffectedError, match=r"^not a git repository: .*plain$"):
        changed_files(plain, "main", include_worktree=False)
    with pytest.raises(AffectedError, match=r"^not a git repository: .*missing \(no such folder\)"):
        changed_files(tmp_path / "missing", "main", include_worktree=False)
    git(plain, "init", "-q", "-b", "main")
    with pytest.raises(AffectedError, match=r"^HEAD 'HEAD' is not a known commit; commit some"):
        changed_files(plain, "main", include_worktree=False)


# --- the command line -------------------------------------------------------------------


def test_lines_give_one_target_a_line_and_the_reasons_go_to_stderr(repo, commit, capsys):
    commit(repo, {"projects/b/src/b/core.py": "B = 2\n", "tools/t.py": "T = 1\n"}, "b, tooling")
    assert main(["--root", str(repo), "--base", "main"]) == 0
    out, err = capsys.readouterr()
    assert out == "b\ntooling\n"
    assert "projects/b/src/b/core.py affects b, images" in err


def test_github_format_appends_step_outputs(repo, commit, capsys, monkeypatch, tmp_path):
    commit(repo, {"docker/Dockerfile.project": "FROM scratch\n"}, "image only")
    outputs = tmp_path / "github_output"
    outputs.write_text("earlier=1\n")
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
    assert main(["--root", str(repo), "--base", "main", "--format", "github"]) == 0
    assert outputs.read_text() == "earlier=1\ntargets=[]\nany=false\nimages=true\n"
    assert capsys.readouterr().out == ""
    monkeypatch.delenv("GITHUB_OUTPUT")
    assert main(["--root", str(repo), "--base", NULL_SHA, "--format", "github"]) == 0
    printed = capsys.readouterr().out
    assert printed == 'targets=["shared","a","b","tooling"]\nany=true\nimages=true\n'


def test_an_error_exits_2_with_one_line(repo, capsys):
    assert main(["--root", str(repo), "--base", "no-such-ref", "--format", "json"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("affected: base 'no-such-ref' is not a known commit; fetch it")


def test_the_module_runs_as_a_command_in_a_real_repo(repo, commit):
    commit(repo, {"projects/a/tests/test_core.py": "def test(): pass\n"}, "a test")
    done = subprocess.run(
        [*AFFECTED_COMMAND, "--root", str(repo), "--base", "main", "--format", "json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"target": ["a"]}
    assert done.stderr == "projects/a/tests/test_core.py affects a\n"


# --- the workflow -----------------------------------------------------------------------


def _check_workflow(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CHECK_WORKFLOW, str(path)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_workflow_is_valid_against_the_github_schema():
    done = _check_workflow(WORKFLOW)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_schema_check_rejects_a_broken_workflow(tmp_path):
    broken = yaml.safe_load(WORKFLOW.read_text())
    broken["jobs"]["checks"]["strategy"]["fail-fast"] = "sometimes"
    del broken["jobs"]["affected"]["runs-on"]
    path = tmp_path / "ci.yml"
    path.write_text(yaml.safe_dump(broken))
    assert _check_workflow(path).returncode == 1


@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def test_the_matrix_is_the_affected_jobs_output(workflow):
    jobs = workflow["jobs"]
    affected = jobs["affected"]
    (checkout,) = [s for s in affected["steps"] if s.get("uses", "").startswith("actions/checkout")]
    assert checkout["with"]["fetch-depth"] == 0
    (step,) = [s for s in affected["steps"] if s.get("id") == "affected"]
    assert "invoke affected --base=" in step["run"]
    assert "--format=github" in step["run"]
    base = step["env"]["BASE"]
    assert "github.event.pull_request.base.sha" in base
    assert "github.event.before" in base
    for name in ("targets", "any", "images"):
        assert affected["outputs"][name] == f"${{{{ steps.affected.outputs.{name} }}}}"
    checks = jobs["checks"]
    assert checks["needs"] == "affected"
    assert checks["if"] == "needs.affected.outputs.any == 'true'"
    assert checks["strategy"]["fail-fast"] is False
    assert checks["strategy"]["matrix"] == {
        "target": "${{ fromJSON(needs.affected.outputs.targets) }}"
    }
    runs = [s.get("run", "") for s in checks["steps"]]
    assert 'uv run nox -s lint typecheck tests -- "$TARGET"' in runs
    images = jobs["images"]
    assert images["needs"] == ["affected", "checks"]  # then the image job
    assert "needs.affected.outputs.images == 'true'" in images["if"]
    assert "always()" in images["if"]  # also when the matrix was empty (docker/ only)
    assert "needs.checks.result == 'skipped'" in images["if"]
    builds = [s.get("run", "") for s in images["steps"]]
    assert any("docker/scripts/build.sh" in run and "--target serve" in run for run in builds)


def test_every_job_caches_uv_on_the_lock_file(workflow):
    for name, job in workflow["jobs"].items():
        uv = [s for s in job["steps"] if s.get("uses", "").startswith("astral-sh/setup-uv")]
        if name == "ci":
            assert not uv  # the gate only reads results
            continue
        assert len(uv) == 1, name
        assert uv[0]["with"]["enable-cache"] is True
        assert uv[0]["with"]["cache-dependency-glob"] == "uv.lock"


def test_every_nox_session_the_workflow_runs_exists(workflow, noxfile):
    import nox.registry  # noqa: PLC0415 - filled by loading the noxfile

    assert noxfile.PROJECTS  # the noxfile is loaded, so its sessions are registered
    lines = [
        line.split("nox -s ", 1)[1]
        for job in workflow["jobs"].values()
        for step in job["steps"]
        for line in step.get("run", "").splitlines()
        if "nox -s " in line
    ]
    named = {word for line in lines for word in line.split(" --")[0].split()}
    assert {"lint", "typecheck", "tests", "structure", "images", "manifests"} <= named
    assert named <= set(nox.registry.get())


def test_the_gate_job_fails_on_any_failed_or_cancelled_need(workflow):
    gate = workflow["jobs"]["ci"]
    assert gate["if"] == "always()"
    assert set(gate["needs"]) == set(workflow["jobs"]) - {"ci"}
    script = gate["steps"][0]["run"]
    for results, code in (("success skipped success", 0), ("success failure skipped", 1)):
        done = subprocess.run(
            ["bash", "-c", script],  # noqa: S607
            env={"RESULTS": results, "PATH": "/usr/bin:/bin"},
            capture_output=True,
            check=False,
        )
        assert done.returncode == code, results
