import hashlib

import pytest

from medai.tracking.lineage import GitState, file_sha256, git_state, lock_file_hash
from medai.tracking.runs import flatten


@pytest.fixture
def isolated_git(monkeypatch, tmp_path):
    """Keep the user's git configuration and any repository above tmp_path out of the test."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "no-global-gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def repo(tmp_path, isolated_git, git):  # noqa: ARG001 - isolated_git sets the environment
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "train.py").write_text("print('v1')\n", encoding="utf-8")
    git(root, "add", "train.py")
    git(root, "commit", "-q", "-m", "initial")
    return root


def test_clean_checkout_reports_its_commit_and_branch(repo, git):
    state = git_state(repo)

    assert state == GitState(commit=git(repo, "rev-parse", "HEAD"), dirty=False, branch="main")
    assert len(state.commit) == 40


def test_modified_tracked_file_makes_the_checkout_dirty(repo):
    (repo / "train.py").write_text("print('v2')\n", encoding="utf-8")

    assert git_state(repo).dirty is True


def test_staged_change_makes_the_checkout_dirty(repo, git):
    (repo / "train.py").write_text("print('v2')\n", encoding="utf-8")
    git(repo, "add", "train.py")

    assert git_state(repo).dirty is True


def test_untracked_file_does_not_make_the_checkout_dirty(repo):
    (repo / "notes.txt").write_text("scratch\n", encoding="utf-8")

    assert git_state(repo).dirty is False


def test_state_is_read_from_a_subfolder_of_the_checkout(repo, git):
    (repo / "sub").mkdir()

    assert git_state(repo / "sub").commit == git(repo, "rev-parse", "HEAD")


def test_branch_follows_the_checked_out_branch(repo, git):
    git(repo, "checkout", "-q", "-b", "feature/x")

    assert git_state(repo).branch == "feature/x"


def test_outside_a_git_checkout_the_state_is_unknown(tmp_path, isolated_git):  # noqa: ARG001
    plain = tmp_path / "plain"
    plain.mkdir()

    assert git_state(plain) == GitState(commit="unknown", dirty=True, branch="unknown")


def test_missing_folder_gives_an_unknown_state(tmp_path, isolated_git):  # noqa: ARG001
    assert git_state(tmp_path / "absent").commit == "unknown"


def test_lock_file_hash_is_the_sha256_of_uv_lock(tmp_path):
    content = b"version = 1\n[[package]]\nname = 'numpy'\n"
    (tmp_path / "uv.lock").write_bytes(content)

    assert lock_file_hash(tmp_path) == hashlib.sha256(content).hexdigest()


def test_lock_file_hash_changes_with_the_lock_file(tmp_path):
    lock = tmp_path / "uv.lock"
    lock.write_bytes(b"a")
    before = lock_file_hash(tmp_path)
    lock.write_bytes(b"b")

    assert lock_file_hash(tmp_path) != before


def test_lock_file_hash_without_uv_lock_is_missing(tmp_path):
    assert lock_file_hash(tmp_path) == "missing"


def test_file_sha256_reads_files_larger_than_one_chunk(tmp_path):
    content = bytes(range(256)) * 9000  # about 2.2 MiB: three 1 MiB chunks
    path = tmp_path / "big.bin"
    path.write_bytes(content)

    assert file_sha256(path) == hashlib.sha256(content).hexdigest()


def test_flatten_gives_dotted_keys_and_json_values():
    data = {
        "project": "demo",
        "seed": 3,
        "train": {"lr": 0.5, "patch": [8, 16], "amp": True, "note": None},
        "tracking": {"uri": None, "nested": {"deep": "x"}},
    }

    assert flatten(data) == {
        "project": "demo",
        "seed": "3",
        "train.lr": "0.5",
        "train.patch": "[8, 16]",
        "train.amp": "true",
        "train.note": "null",
        "tracking.uri": "null",
        "tracking.nested.deep": "x",
    }


def test_flatten_applies_a_prefix_and_cuts_long_values():
    flat = flatten({"a": {"b": "x" * 7000}}, prefix="cfg.")

    assert list(flat) == ["cfg.a.b"]
    assert flat["cfg.a.b"] == "x" * 6000


def test_flatten_of_an_empty_section_has_no_params():
    assert flatten({"a": {}, "b": 1}) == {"b": "1"}
