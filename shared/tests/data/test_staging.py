"""A staged folder appears whole or not at all."""

from __future__ import annotations

import pytest

from medai.data.staging import staged_folder


def test_the_folder_appears_only_when_the_block_finishes(tmp_path):
    root = tmp_path / "dataset"
    with staged_folder(root) as staging:
        (staging / "a.txt").write_text("a")
        assert not root.exists()
    assert (root / "a.txt").read_text() == "a"
    assert [p.name for p in tmp_path.iterdir()] == ["dataset"]


def test_a_failure_leaves_neither_the_target_nor_the_staging_folder(tmp_path):
    root = tmp_path / "dataset"

    def write_then_fail() -> None:
        with staged_folder(root) as staging:
            (staging / "a.txt").write_text("a")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        write_then_fail()
    assert list(tmp_path.iterdir()) == []


def test_an_existing_folder_is_kept_unless_replacing_is_allowed(tmp_path):
    root = tmp_path / "dataset"
    root.mkdir()
    (root / "old.txt").write_text("old")
    with (
        pytest.raises(FileExistsError, match="exists and is not an empty directory"),
        staged_folder(root),
    ):
        pass
    assert (root / "old.txt").exists()

    with staged_folder(root, replace=True) as staging:
        (staging / "new.txt").write_text("new")
    assert sorted(p.name for p in root.iterdir()) == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["dataset"]


def test_a_failed_replacement_keeps_the_old_folder(tmp_path):
    root = tmp_path / "dataset"
    root.mkdir()
    (root / "old.txt").write_text("old")
    with pytest.raises(RuntimeError), staged_folder(root, replace=True):
        raise RuntimeError
    assert sorted(p.name for p in root.iterdir()) == ["old.txt"]


def test_an_empty_existing_folder_is_filled(tmp_path):
    root = tmp_path / "dataset"
    root.mkdir()
    with staged_folder(root) as staging:
        (staging / "a.txt").write_text("a")
    assert (root / "a.txt").exists()
