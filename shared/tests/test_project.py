"""A project's binding finds its folder, the repo root and its settings from the package file."""

from __future__ import annotations

from pathlib import Path

import pytest

from medai.config import ConfigError, ProjectSettings
from medai.paths import RepoLayoutError
from medai.project import ProjectBinding


def make_repo(root: Path, name: str = "demo-proj") -> Path:
    """A monorepo with one project ``name``; returns its package ``__init__.py`` path."""
    (root / "pyproject.toml").write_text("[tool.uv.workspace]\nmembers = []\n", encoding="utf-8")
    (root / "configs").mkdir()
    (root / "configs" / "base.yaml").write_text("seed: 5\n", encoding="utf-8")
    configs = root / "projects" / name / "configs"
    configs.mkdir(parents=True)
    (configs / "base.yaml").write_text(
        f"project: {name}\ndocker:\n  image: medai/{name}\n", encoding="utf-8"
    )
    (configs / "development.yaml").write_text("", encoding="utf-8")
    (configs / "production.yaml").write_text("seed: 9\n", encoding="utf-8")
    return root / "projects" / name / "src" / name.replace("-", "_") / "__init__.py"


@pytest.fixture
def binding(tmp_path) -> ProjectBinding[ProjectSettings]:
    return ProjectBinding(make_repo(tmp_path), ProjectSettings)


def test_paths_come_from_the_package_location(binding, tmp_path):
    assert binding.project_dir == (tmp_path / "projects" / "demo-proj").resolve()
    assert binding.repo_root == tmp_path.resolve()
    assert binding.name == "demo-proj"


def test_relative_paths_start_at_the_project_and_absolute_ones_stay(binding, tmp_path):
    assert binding.resolve_path(Path("data/raw")) == binding.project_dir / "data" / "raw"
    assert binding.resolve_path(tmp_path / "elsewhere") == tmp_path / "elsewhere"


def test_load_layers_the_repo_and_project_configs_then_the_environment(binding):
    development = binding.load(environ={})
    production = binding.load(environ={"MEDAI_ENV": "production"})

    assert isinstance(development, ProjectSettings)
    assert (development.project, development.seed, development.environment) == (
        "demo-proj",
        5,
        "development",
    )
    assert production.seed == 9
    assert binding.load(["seed=11"], environ={"MEDAI__SEED": "10"}).seed == 11


def test_load_names_the_override_and_key_of_a_bad_value(binding):
    with pytest.raises(ConfigError, match=r"^--set seed=many: seed: "):
        binding.load(["seed=many"], environ={})


def test_nothing_is_read_until_a_path_is_asked_for(tmp_path):
    binding = ProjectBinding(tmp_path / "nowhere" / "src" / "pkg" / "__init__.py", ProjectSettings)
    assert binding.settings_type is ProjectSettings
    with pytest.raises(RepoLayoutError, match=r"has no configs/base\.yaml"):
        _ = binding.project_dir


def test_the_working_directory_does_not_matter(binding, tmp_path, monkeypatch):
    elsewhere = tmp_path / "projects" / "demo-proj" / "configs"
    monkeypatch.chdir(elsewhere)
    assert binding.load(environ={}).project == "demo-proj"
    assert binding.resolve_path(Path("x")) == binding.project_dir / "x"
