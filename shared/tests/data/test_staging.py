"""A staged folder appears whole or not at all."""

from __future__ import annotations

import json

import pytest

from medai.data.staging import staged_folder, write_decathlon_folder


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


def _write_text_case(folder, index):
    for part in ("imagesTr", "labelsTr"):
        (folder / part / f"case_{index}.txt").write_text(str(index))


def test_a_decathlon_folder_holds_every_case_and_its_description_last(tmp_path):
    seen = []

    def write_case(folder, index):
        assert not (folder / "dataset.json").exists()
        seen.append(index)
        _write_text_case(folder, index)

    root = write_decathlon_folder(
        tmp_path / "ds", 3, write_case, {"name": "demo", "numTraining": 3}
    )

    assert root == tmp_path / "ds"
    assert seen == [0, 1, 2]
    assert sorted(p.name for p in (root / "labelsTr").iterdir()) == [
        "case_0.txt",
        "case_1.txt",
        "case_2.txt",
    ]
    text = (root / "dataset.json").read_text(encoding="utf-8")
    assert json.loads(text) == {"name": "demo", "numTraining": 3}
    assert text.endswith("}\n")


def test_a_decathlon_folder_interrupted_in_a_case_leaves_nothing(tmp_path):
    def write_case(folder, index):
        _write_text_case(folder, index)
        if index == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_decathlon_folder(tmp_path / "ds", 3, write_case, {})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("n_cases", [0, -1])
def test_a_decathlon_folder_needs_at_least_one_case(tmp_path, n_cases):
    with pytest.raises(ValueError, match="n_cases must be >= 1"):
        write_decathlon_folder(tmp_path / "ds", n_cases, _write_text_case, {})
    assert list(tmp_path.iterdir()) == []


def test_a_decathlon_folder_never_overwrites_a_dataset(tmp_path):
    root = write_decathlon_folder(tmp_path / "ds", 1, _write_text_case, {"name": "first"})

    with pytest.raises(FileExistsError):
        write_decathlon_folder(root, 1, _write_text_case, {"name": "second"})
    assert json.loads((root / "dataset.json").read_text(encoding="utf-8")) == {"name": "first"}


def test_a_folder_another_process_completed_first_is_kept_and_ours_discarded(tmp_path):
    root = tmp_path / "dataset"
    with staged_folder(root) as staging:
        (staging / "ours.txt").write_text("ours")
        root.mkdir()  # another rank of the same training finished first
        (root / "theirs.txt").write_text("theirs")

    assert sorted(p.name for p in root.iterdir()) == ["theirs.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["dataset"]
