"""noxfile.py: one test target per project, the sessions CI and the README name, what runs where.

Sessions are called with a recording stand-in for ``nox.Session`` where the real one
would build a venv per target (minutes each); the session list itself comes from the
real ``nox --list``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from tools.affected import affected_targets


def _nox_list(repo_root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nox", "--list", *args],
        cwd=repo_root,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def nox_sessions(repo_root) -> dict[str, bool]:
    """Every session name ``nox --list`` reports, and whether plain ``nox`` selects it."""
    listed = json.loads(_nox_list(repo_root, "--json").stdout)
    lines = _nox_list(repo_root).stdout
    selected = {s: mark == "*" for mark, s in re.findall(r"^([*-]) (\S+) ->", lines, re.MULTILINE)}
    names: dict[str, bool] = {}
    for entry in listed:  # parametrized sessions ("tests(ct-seg)") share their name
        names[entry["name"]] = names.get(entry["name"], False) or selected[entry["session"]]
    return names


def test_every_project_is_a_test_target_with_its_own_package(noxfile, repo_root):
    projects = sorted(p.parent.name for p in repo_root.glob("projects/*/pyproject.toml"))
    assert sorted(noxfile.PROJECTS) == projects
    for name in projects:
        sync_args, test_dir = noxfile.TARGETS[name]
        assert sync_args[:2] == ("--package", noxfile.PROJECTS[name])
        assert "--all-packages" not in sync_args
        assert (repo_root / test_dir).is_dir()


def test_plain_nox_runs_every_session_and_ci_names_each_one(nox_sessions, repo_root):
    assert {"lint", "typecheck", "tests", "structure"} <= set(nox_sessions)
    assert [name for name, selected in nox_sessions.items() if not selected] == []
    ci = (repo_root / ".ci" / "run").read_text()
    commands = re.findall(r"^[^#\n]* run nox -s (.+)$", ci, re.MULTILINE)  # not comments
    in_ci = {word for command in commands for word in command.split()}
    assert in_ci == set(nox_sessions)


def test_the_readme_lists_exactly_the_sessions_nox_has(nox_sessions, repo_root):
    readme = (repo_root / "README.md").read_text()
    named = set(re.findall(r"uv run nox (?:-R )?-s ([a-z_]+)", readme))
    assert named == set(nox_sessions)


def test_the_tooling_target_lints_what_its_tests_cover(noxfile, repo_root):
    paths = noxfile._paths("tooling")
    assert set(paths) == {"tests", "tools", "tasks.py", "noxfile.py"}
    assert all((repo_root / p).exists() for p in paths)
    assert noxfile._paths("ct-seg") == ("projects/ct-seg",)


def test_import_names_follow_the_distribution_names(noxfile):
    assert noxfile._import_names(["shared", "ct-seg", "tooling"]) == ["medai", "ct_seg"]


class Skipped(Exception):  # noqa: N818 - named as nox's own
    pass


class RecordingSession:
    """What a nox session would install and run, without its venv."""

    class _Venv:
        location = "/nonexistent/venv"

    def __init__(self, *posargs):
        self.posargs = list(posargs)
        self.virtualenv = self._Venv()
        self.runs: list[tuple[str, ...]] = []
        self.installs: list[tuple[str, ...]] = []

    def run(self, *args, **kwargs):  # noqa: ARG002 - nox's signature
        self.runs.append(args)

    def run_install(self, *args, **kwargs):  # noqa: ARG002 - nox's signature
        self.installs.append(args)

    def skip(self, reason):
        raise Skipped(reason)

    def error(self, message):
        raise RuntimeError(message)


def _tests_run(noxfile, posargs: list[str]) -> dict[str, tuple[str, ...]]:
    """``target -> pytest argv`` for every test target that does not skip."""
    ran = {}
    for target in noxfile.TARGETS:
        session = RecordingSession(*posargs)
        try:
            noxfile.tests(session, target=target)
        except Skipped:
            assert session.runs == session.installs == []  # nothing installed for it
            continue
        (ran[target],) = session.runs
    return ran


@pytest.mark.parametrize(
    ("changed", "expected"),
    [
        (["projects/ct-seg/src/ct_seg/settings.py"], {"ct-seg"}),
        (["projects/cxr-cls/README.md", "tests/test_tasks.py"], {"cxr-cls", "tooling"}),
        (["shared/src/medai/config.py"], "every target"),
    ],
)
def test_a_change_runs_the_tests_of_the_targets_it_affects_and_no_others(
    noxfile, changed, expected
):
    targets = affected_targets(changed, list(noxfile.PROJECTS)).targets

    ran = _tests_run(noxfile, list(targets))

    assert set(ran) == (set(noxfile.TARGETS) if expected == "every target" else expected)
    for target, argv in ran.items():
        assert argv == ("pytest", noxfile.TARGETS[target][1])


def test_pytest_arguments_after_the_targets_reach_only_the_selected_targets(noxfile):
    ran = _tests_run(noxfile, ["ct-seg", "-m", "not integration"])
    assert ran == {"ct-seg": ("pytest", "projects/ct-seg/tests", "-m", "not integration")}


def test_lint_and_typecheck_check_only_the_named_targets(noxfile):
    lint = RecordingSession("ct-seg", "tooling")
    noxfile.lint(lint)
    assert lint.runs[0] == ("ruff", "check", "projects/ct-seg", *noxfile.TOOLING_PATHS)

    typecheck = RecordingSession("tooling")
    noxfile.typecheck(typecheck)
    assert typecheck.runs == [("mypy", "noxfile.py", "tasks.py", "tools")]

    everything = RecordingSession()
    noxfile.typecheck(everything)
    packages = everything.runs[0]
    assert packages[:3] == ("mypy", "-p", "medai")
    assert len(packages) == 1 + 2 * (1 + len(noxfile.PROJECTS))
    assert everything.runs[1] == ("mypy", "noxfile.py", "tasks.py", "tools")


def test_option_values_are_never_taken_for_project_names(noxfile):
    names, pytest_args = noxfile._split_posargs(RecordingSession("ct-seg", "-m", "not integration"))
    assert names == ["ct-seg"]
    assert pytest_args == ["-m", "not integration"]


def test_leading_unknown_word_is_refused_with_the_known_targets(noxfile):
    with pytest.raises(RuntimeError, match=r"unknown project 'ct-sgg'; known: shared, .*tooling$"):
        noxfile._split_posargs(RecordingSession("ct-sgg"))


def test_test_paths_go_to_pytest(noxfile):
    names, pytest_args = noxfile._split_posargs(
        RecordingSession("ct-seg", "projects/ct-seg/tests/unit", "-x")
    )
    assert names == ["ct-seg"]
    assert pytest_args == ["projects/ct-seg/tests/unit", "-x"]
