"""noxfile.py: one test target per project, plus the shared library and the tooling."""

from __future__ import annotations

import pytest


def test_every_project_is_a_test_target_with_its_own_package(noxfile, repo_root):
    projects = sorted(p.parent.name for p in repo_root.glob("projects/*/pyproject.toml"))
    assert sorted(noxfile.PROJECTS) == projects
    for name in projects:
        sync_args, test_dir = noxfile.TARGETS[name]
        assert sync_args[:2] == ("--package", noxfile.PROJECTS[name])
        assert "--all-packages" not in sync_args
        assert (repo_root / test_dir).is_dir()


def test_shared_and_tooling_targets_exist(noxfile):
    assert noxfile.TARGETS["shared"][1] == "shared/tests"
    # The tooling runs in (a copy of) the root venv: every member and the dev group.
    assert noxfile.TARGETS["tooling"] == ((), "tests")


def test_tooling_lint_covers_the_tools_and_the_task_files(noxfile, repo_root):
    paths = noxfile._paths("tooling")
    assert set(paths) == {"tests", "tools", "tasks.py", "noxfile.py"}
    assert all((repo_root / p).exists() for p in paths)
    assert noxfile._paths("ct-seg") == ("projects/ct-seg",)


def test_the_structure_check_runs_by_default(noxfile):
    assert callable(noxfile.structure)
    assert "structure" in noxfile.nox.options.sessions


def test_import_names_follow_the_distribution_names(noxfile):
    assert noxfile._import_names(["shared", "ct-seg", "tooling"]) == ["medai", "ct_seg"]


class FakeSession:
    def __init__(self, *posargs):
        self.posargs = list(posargs)

    def error(self, message):
        raise RuntimeError(message)


def test_option_values_are_never_taken_for_project_names(noxfile):
    names, pytest_args = noxfile._split_posargs(FakeSession("ct-seg", "-m", "not integration"))
    assert names == ["ct-seg"]
    assert pytest_args == ["-m", "not integration"]


def test_leading_unknown_word_is_refused_with_the_known_targets(noxfile):
    with pytest.raises(RuntimeError, match=r"unknown project 'ct-sgg'; known: shared, .*tooling$"):
        noxfile._split_posargs(FakeSession("ct-sgg"))


def test_test_paths_go_to_pytest(noxfile):
    names, pytest_args = noxfile._split_posargs(
        FakeSession("ct-seg", "projects/ct-seg/tests/unit", "-x")
    )
    assert names == ["ct-seg"]
    assert pytest_args == ["projects/ct-seg/tests/unit", "-x"]
