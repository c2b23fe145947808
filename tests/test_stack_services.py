"""tools/stack_services.py: a new project's services join docker/docker-compose.yml as text."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from tools.errors import ToolError
from tools.stack_services import STACK, add_to_stack


@pytest.fixture
def stack(repo_root, tmp_path) -> Path:
    """A copy of the repo's stack file in a throwaway root."""
    path = tmp_path / STACK
    path.parent.mkdir()
    path.write_text((repo_root / STACK).read_text())
    return path


def test_the_new_project_joins_the_stack_like_the_projects_before_it(repo_root, tmp_path, stack):
    before = stack.read_text()

    add_to_stack(tmp_path, "mri-seg")

    services = yaml.safe_load(stack.read_text())["services"]
    first = min(p.parent.name for p in repo_root.glob("projects/*/pyproject.toml"))
    for suffix in ("-init", ""):
        ours, theirs = services[f"mri-seg{suffix}"], services[f"{first}{suffix}"]
        assert ours["build"]["args"] == {"PROJECT": "mri-seg"}
        assert ours["volumes"] == [v.replace(first, "mri-seg") for v in theirs["volumes"]]
        assert ours["environment"] == theirs["environment"]
    assert "mri-seg-models" in yaml.safe_load(stack.read_text())["volumes"]
    assert list(services)[-2:] == ["mri-seg-init", "mri-seg"]
    comments = [line for line in before.splitlines() if line.lstrip().startswith("#")]
    after = stack.read_text().splitlines()
    assert all(line in after for line in comments)  # edited as text: comments survive


def test_a_second_add_and_a_stack_of_another_shape_are_refused(tmp_path, stack):
    add_to_stack(tmp_path, "mri-seg")
    with pytest.raises(ToolError, match="no service 'mri-seg' yet"):
        add_to_stack(tmp_path, "mri-seg")
    stack.write_text("services: {}\n")
    with pytest.raises(ToolError, match=r"add them by hand$") as caught:
        add_to_stack(tmp_path, "mri-seg")
    assert caught.value.code == 2
    assert stack.read_text() == "services: {}\n"


def test_a_repo_without_the_stack_is_left_alone(tmp_path):
    assert add_to_stack(tmp_path, "mri-seg") is None
    assert not (tmp_path / STACK).exists()
