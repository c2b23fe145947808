"""tools/template_git.py on real git repos in tmp_path: the commit to render, whether to update."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from tools.errors import ToolError
from tools.template_git import (
    check_updatable,
    checkpoints,
    git,
    has_template,
    short_head,
    template_commit,
    unmerged_files,
)


@pytest.fixture
def git_repo(tmp_path, monkeypatch, git) -> Path:
    """An empty git repo whose git config is this test's alone."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "no-global-gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    return root


def _commit_template(root: Path, git) -> str:
    (root / "copier.yml").write_text("_subdirectory: template\n")
    (root / "template").mkdir(exist_ok=True)
    (root / "template" / "README.md.jinja").write_text("# {{ project_name }}\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "template")
    return git(root, "rev-parse", "HEAD").strip()


def test_a_failing_git_command_is_one_line_naming_it(git_repo):
    with pytest.raises(ToolError) as caught:
        git(git_repo, "rev-parse", "no-such-ref")
    assert caught.value.code == 2
    assert str(caught.value.message).startswith("git rev-parse no-such-ref failed: ")
    assert "\n" not in str(caught.value.message)


def test_an_uncommitted_template_is_refused_and_a_clean_one_gives_the_head_sha(git_repo, git):
    head = _commit_template(git_repo, git)
    assert template_commit(git_repo) == head

    (git_repo / "template" / "README.md.jinja").write_text("# changed\n")
    (git_repo / "unrelated.txt").write_text("not the template\n")
    with pytest.raises(
        ToolError, match=r"^commit the template first; uncommitted: template/README"
    ):
        template_commit(git_repo)


def test_the_short_head_is_none_before_the_first_commit(git_repo, git):
    assert short_head(git_repo) is None
    head = _commit_template(git_repo, git)
    assert head.startswith(short_head(git_repo))


def test_only_a_commit_that_holds_copier_yml_has_the_template(git_repo, git):
    (git_repo / "README.md").write_text("# repo\n")
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-qm", "before the template")
    before = git(git_repo, "rev-parse", "HEAD").strip()
    after = _commit_template(git_repo, git)
    assert has_template(git_repo, after)
    assert not has_template(git_repo, before)
    assert not has_template(git_repo, "0" * 40)
    assert not has_template(git_repo, "")


def test_update_needs_answers_that_point_at_a_commit_with_the_template(git_repo, git):
    project = git_repo / "projects" / "p"
    project.mkdir(parents=True)
    (project / "README.md").write_text("# p\n")
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-qm", "no template yet")
    with pytest.raises(ToolError, match=r"^projects/p has no \.copier-answers\.yml"):
        check_updatable(git_repo, "p")

    old = git(git_repo, "rev-parse", "--short", "HEAD").strip()
    (project / ".copier-answers.yml").write_text(f"_commit: {old}\n_src_path: .\n")
    with pytest.raises(ToolError, match=rf"_commit {old} has no copier.yml in this clone"):
        check_updatable(git_repo, "p")

    new = _commit_template(git_repo, git)[:10]
    (project / ".copier-answers.yml").write_text(f"_commit: '{new}'\n_src_path: .\n")
    with pytest.raises(ToolError, match=r"^projects/p has uncommitted changes; commit them first"):
        check_updatable(git_repo, "p")
    git(git_repo, "commit", "-qam", "answers")
    assert check_updatable(git_repo, "p") is None


def test_unmerged_files_are_listed_and_block_an_update(git_repo, git):
    head = _commit_template(git_repo, git)
    project = git_repo / "projects" / "p"
    project.mkdir(parents=True)
    (project / ".copier-answers.yml").write_text(f"_commit: {head}\n")
    (git_repo / "notes.txt").write_text("base\n")
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-qm", "project")
    git(git_repo, "checkout", "-qb", "other")
    (git_repo / "notes.txt").write_text("theirs\n")
    git(git_repo, "commit", "-qam", "theirs")
    git(git_repo, "checkout", "-q", "main")
    (git_repo / "notes.txt").write_text("ours\n")
    git(git_repo, "commit", "-qam", "ours")
    with pytest.raises(subprocess.CalledProcessError):  # a conflict: git merge exits 1
        git(git_repo, "merge", "-q", "other")

    assert unmerged_files(git_repo) == ["notes.txt"]
    assert unmerged_files(git_repo, "projects/p") == []
    unmerged = r"^resolve the unmerged files first \(git add them\), e\.g\. notes\.txt$"
    with pytest.raises(ToolError, match=unmerged):
        check_updatable(git_repo, "p")


def test_a_kind_layer_answers_file_pointing_nowhere_blocks_an_update(git_repo, git):
    head = _commit_template(git_repo, git)
    project = git_repo / "projects" / "p"
    project.mkdir(parents=True)
    (project / ".copier-answers.yml").write_text(f"_commit: {head}\nlayer: common\n")
    (project / ".copier-answers.kind.yml").write_text("_commit: deadbee\nlayer: kind\n")
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-qm", "project")
    with pytest.raises(
        ToolError, match=r"^projects/p/\.copier-answers\.kind\.yml: _commit deadbee has no copier"
    ):
        check_updatable(git_repo, "p")
    (project / ".copier-answers.kind.yml").write_text(f"_commit: {head}\nlayer: kind\n")
    git(git_repo, "commit", "-qam", "kind answers in step")
    assert check_updatable(git_repo, "p") is None


def test_checkpoints_commit_the_path_and_put_head_back_with_the_changes_staged(git_repo, git):
    original = _commit_template(git_repo, git)
    branch = git(git_repo, "symbolic-ref", "HEAD").strip()
    project = git_repo / "projects" / "p"
    project.mkdir(parents=True)
    (git_repo / "elsewhere.txt").write_text("not the project's\n")
    with checkpoints(git_repo, "projects/p") as checkpoint:
        checkpoint()  # nothing changed: no commit
        assert git(git_repo, "rev-parse", "HEAD").strip() == original
        (project / "a.txt").write_text("first layer\n")
        checkpoint()
        first = git(git_repo, "rev-parse", "HEAD").strip()
        assert first != original
        assert git(git_repo, "status", "--porcelain", "--", "projects/p") == ""  # clean for copier
        (project / "b.txt").write_text("second layer\n")
        checkpoint()
        assert git(git_repo, "rev-parse", "HEAD^").strip() == first
    assert git(git_repo, "symbolic-ref", "HEAD").strip() == branch
    assert git(git_repo, "rev-parse", "HEAD").strip() == original
    status = git(git_repo, "status", "--porcelain").splitlines()
    assert sorted(status) == ["?? elsewhere.txt", "A  projects/p/a.txt", "A  projects/p/b.txt"]


def _fails_after_a_checkpoint(root: Path) -> None:
    with checkpoints(root, "projects/p") as checkpoint:
        (root / "projects" / "p" / "a.txt").write_text("first layer\n")
        checkpoint()
        raise RuntimeError("copier broke")


def test_checkpoints_put_head_back_when_the_update_fails(git_repo, git):
    original = _commit_template(git_repo, git)
    (git_repo / "projects" / "p").mkdir(parents=True)
    with pytest.raises(RuntimeError, match="copier broke"):
        _fails_after_a_checkpoint(git_repo)
    assert git(git_repo, "rev-parse", "HEAD").strip() == original
    assert (git_repo / "projects" / "p" / "a.txt").read_text() == "first layer\n"
