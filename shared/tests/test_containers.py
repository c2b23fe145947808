"""The image entry point picks the right process for each command, from MEDAI_PROJECT."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from medai.containers import ContainerUsageError, command_line

PROJECT = "demo-proj"


@pytest.fixture(autouse=True)
def demo_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A minimal installed project (``demo_proj``) in a throwaway workspace.

    The shared library must not depend on a real project, not even in its tests.
    """
    root = tmp_path / "repo"
    (root / "configs").mkdir(parents=True)
    (root / "pyproject.toml").write_text('[tool.uv.workspace]\nmembers = ["projects/*"]\n')
    (root / "configs" / "base.yaml").write_text("api:\n  port: 8123\n")
    project = root / "projects" / PROJECT
    package = project / "src" / "demo_proj"
    package.mkdir(parents=True)
    (project / "configs").mkdir()
    (project / "configs" / "base.yaml").write_text(
        f"project: {PROJECT}\ndocker:\n  image: medai/{PROJECT}\n"
    )
    (project / "configs" / "development.yaml").write_text("{}\n")
    (project / "scripts").mkdir()
    for script in ("train.py", "serve.py"):
        (project / "scripts" / script).write_text("")
    (package / "__init__.py").write_text("")
    (package / "settings.py").write_text(
        "import demo_proj\n"
        "from medai.config import ProjectSettings\n"
        "from medai.project import ProjectBinding\n"
        "BINDING = ProjectBinding(demo_proj.__file__, ProjectSettings)\n"
    )
    monkeypatch.syspath_prepend(str(project / "src"))
    return project


def test_serve_runs_uvicorn_on_the_projects_factory(tmp_path: Path) -> None:
    environ = {"MEDAI_PROJECT": PROJECT, "MEDAI__API__MODEL_DIR": str(tmp_path)}
    argv = command_line(["serve"], environ)
    assert argv[1:4] == ["-m", "uvicorn", "--factory"]
    assert argv[4] == "demo_proj.api.main:create_app"
    assert "--no-access-log" in argv
    assert argv[argv.index("--port") + 1] == "8123"


def test_serve_without_a_model_folder_is_refused() -> None:
    with pytest.raises(ContainerUsageError, match="MEDAI__API__MODEL_DIR"):
        command_line(["serve"], {"MEDAI_PROJECT": PROJECT})


def test_other_commands_run_the_projects_scripts() -> None:
    argv = command_line(["train", "--set", "train.epochs=1"], {"MEDAI_PROJECT": PROJECT})
    assert argv[0] == sys.executable
    assert Path(argv[1]).parts[-3:] == (PROJECT, "scripts", "train.py")
    assert argv[2:] == ["--set", "train.epochs=1"]


def test_materialize_is_the_serve_script_without_serving() -> None:
    argv = command_line(["materialize"], {"MEDAI_PROJECT": PROJECT})
    assert Path(argv[1]).name == "serve.py"
    assert argv[2] == "--materialize-only"


@pytest.mark.parametrize(
    ("argv", "environ", "message"),
    [
        (["serve"], {}, "MEDAI_PROJECT is not set"),
        ([], {"MEDAI_PROJECT": PROJECT}, "usage"),
        (["serve"], {"MEDAI_PROJECT": "no-such-project"}, "no installed package 'no_such_project'"),
        (["dance"], {"MEDAI_PROJECT": PROJECT}, "unknown command 'dance'; known: serve"),
    ],
)
def test_bad_use_says_what_is_wrong(argv: list[str], environ: dict[str, str], message: str) -> None:
    with pytest.raises(ContainerUsageError, match=message):
        command_line(argv, environ)
