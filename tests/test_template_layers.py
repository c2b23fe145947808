"""The template's layers: template/common/ and one folder per kind, disjoint, no kind branches.

The split of the one-tree template into layers changed no rendered byte: the integration
test renders the commit before the split and the split commit with the same answers and
compares every file but the answers files. Both commits are pinned, so the proof stays
true when the template moves on (HEAD may differ from the split for good reasons).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from tools.answers import LAYERS
from tools.new_project import KINDS_FOLDER, known_kinds, layer_files, render_layers

BEFORE_SPLIT = "8b73ceda2dd327f8da66064b6dd3f485ed550a7b"
"""The last commit whose template/ was one tree with if-kind branches."""
SPLIT = "2d77f6cc7a269f5cb7b5309132e95b7d528e3f6a"
"""The commit that split it into template/common/ and template/kinds/<kind>/."""
ANSWERS_FILES = frozenset(LAYERS.values())

ANSWER_SETS = [
    {"project_name": "probe-seg", "kind": "segmentation"},
    {"project_name": "probe-cls", "kind": "classification"},
    {"project_name": "probe-mri", "kind": "segmentation", "modality": "MRI", "target": "tumour"},
    {"project_name": "probe-us", "kind": "classification", "modality": "ultrasound"},
]


def test_no_file_of_the_template_branches_on_the_kind(repo_root):
    template = repo_root / "template"
    branching = [
        str(path.relative_to(template))
        for path in template.rglob("*")
        if "kind ==" in path.name
        or (path.is_file() and not path.is_symlink() and "kind ==" in path.read_text())
    ]
    assert branching == []


def test_every_kind_folder_is_a_full_layer_with_its_answers_file(repo_root):
    kinds = known_kinds(repo_root)
    assert kinds == ("classification", "segmentation")
    for kind in kinds:
        assert (repo_root / KINDS_FOLDER / kind / "{{_copier_conf.answers_file}}.jinja").is_file()
    assert (repo_root / "template" / "common" / "{{_copier_conf.answers_file}}.jinja").is_file()


@pytest.fixture
def plain_template(repo_root, tmp_path) -> Path:
    """copier.yml and template/ of the work tree in a folder that is not a git repository."""
    source = tmp_path / "source"
    source.mkdir()
    shutil.copy2(repo_root / "copier.yml", source / "copier.yml")
    shutil.copytree(repo_root / "template", source / "template", symlinks=True)
    return source


@pytest.mark.parametrize("kind", ["segmentation", "classification"])
def test_a_file_belongs_to_exactly_one_layer(plain_template, kind):
    files = layer_files(plain_template, {"project_name": "probe-x", "kind": kind}, None)
    common, of_kind = set(files["common"]), set(files["kind"])
    assert common & of_kind == set()
    assert LAYERS["common"] in common
    assert LAYERS["kind"] in of_kind
    assert "src/probe_x/settings.py" in of_kind  # the kind's kit, in full
    assert "docker/Dockerfile" in common  # the link to the one Dockerfile recipe


def _files(folder: Path) -> dict[str, tuple[str, bytes | str, bool]]:
    """Each file or link under ``folder``: its kind, content (or link target), executable."""
    found: dict[str, tuple[str, bytes | str, bool]] = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).as_posix()
        if relative in ANSWERS_FILES:
            continue
        if path.is_symlink():
            found[relative] = ("link", str(path.readlink()), False)
        elif path.is_file():
            found[relative] = ("file", path.read_bytes(), os.access(path, os.X_OK))
    return found


@pytest.mark.integration
@pytest.mark.parametrize("answers", ANSWER_SETS, ids=lambda answers: answers["project_name"])
def test_the_split_renders_the_same_files_as_the_one_tree_template(repo_root, tmp_path, answers):
    import copier  # noqa: PLC0415 - only the render tests need it

    before, after = tmp_path / "before", tmp_path / "after"
    copier.run_copy(
        str(repo_root), before, data=answers, defaults=True, vcs_ref=BEFORE_SPLIT, quiet=True
    )
    render_layers(repo_root, after, answers, SPLIT)

    old, new = _files(before), _files(after)
    assert sorted(old) == sorted(new)
    assert [path for path in old if old[path] != new[path]] == []
    assert len(old) > 60  # a whole project, not an empty render
    assert (after / LAYERS["kind"]).is_file()
