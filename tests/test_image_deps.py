"""tools/image_deps.py: the Dockerfile's own install steps, run without Docker."""

from __future__ import annotations

from pathlib import Path

import pytest
from tools.image_deps import (
    DOCKERFILE,
    STAGES,
    TRACKING_DOCKERFILE,
    TRACKING_SERVER,
    ImageDepsError,
    install_stage,
    main,
    stage_problems,
    sync_arguments,
)

ROOT = Path(__file__).resolve().parent.parent

RECIPE = """\
FROM python:3.11-slim AS base
RUN pip install uv  # not a uv sync
FROM base AS build-serve
ARG PROJECT
# a comment with uv sync --all-packages must not count
RUN --mount=type=cache,target=/root/.cache/uv \\
    test -n "${PROJECT}" && \\
    uv sync --frozen --no-dev --package "${PROJECT}"
FROM base AS build-train
RUN uv sync --frozen --no-dev --package "$PROJECT" --extra train; echo done
"""


def test_the_install_steps_are_read_from_the_named_stage_only():
    assert sync_arguments(RECIPE, "build-serve") == [
        "--frozen",
        "--no-dev",
        "--package",
        "${PROJECT}",
    ]
    assert sync_arguments(RECIPE, "build-train")[-2:] == ["--extra", "train"]


def test_a_stage_without_an_install_step_is_named():
    with pytest.raises(ImageDepsError, match="build stage 'build-serve' has no `uv sync` step"):
        sync_arguments("FROM python:3.11 AS build-serve\nRUN pip install x\n", "build-serve")
    with pytest.raises(ImageDepsError, match="'build-gpu'"):
        sync_arguments(RECIPE, "build-gpu")


def test_the_repo_recipe_installs_locked_packages_without_dev_tools():
    text = (ROOT / DOCKERFILE).read_text()
    for stage in ("build-serve", "build-train"):
        arguments = sync_arguments(text, stage)
        assert "--frozen" in arguments
        assert "--no-dev" in arguments
        assert arguments[arguments.index("--package") + 1] == "${PROJECT}"
    assert "--extra" not in sync_arguments(text, "build-serve")


def test_problems_name_what_each_stage_must_or_must_not_have():
    serve = STAGES["serve"]
    fine = dict.fromkeys(serve.present, True) | dict.fromkeys(serve.absent, False)
    assert stage_problems(serve, fine, "") == []
    assert stage_problems(serve, fine | {"torch": True}, "") == [
        "torch is installed (the serving image must not have it)"
    ]
    assert stage_problems(STAGES["train"], {"torch": True, "monai": False}, "import x failed") == [
        "import x failed",
        "monai is missing (the training image needs it)",
        "mlflow is missing (the training image needs it)",
        "onnx is missing (the training image needs it)",
    ]


def test_an_unknown_project_is_refused(capsys):
    assert main(["no-such-project"]) == 2
    assert "unknown project(s) no-such-project; known: " in capsys.readouterr().err


@pytest.mark.integration
def test_the_serving_install_of_a_real_project_has_no_torch(tmp_path):
    project = min(p.parent.name for p in ROOT.glob("projects/*/pyproject.toml"))
    report = install_stage(ROOT, project, STAGES["serve"], tmp_path)
    assert report.problems == ()
    assert report.command.startswith(f"uv sync --frozen --no-dev --package {project}")
    assert 50e6 < report.size_bytes < 1e9  # numpy + onnxruntime at least, far below torch
    names = {name for name, _ in report.largest}
    assert "onnxruntime" in names
    assert "torch" not in names


def test_the_tracking_server_recipe_installs_only_its_dependency_group():
    arguments = sync_arguments((ROOT / TRACKING_DOCKERFILE).read_text(), "build")
    assert arguments == ["--frozen", "--only-group", "mlflow-server"]


@pytest.mark.integration
def test_the_tracking_server_install_has_mlflow_postgres_and_s3_but_no_project(tmp_path):
    report = install_stage(ROOT, "", TRACKING_SERVER, tmp_path)
    assert report.problems == ()
    assert report.label == "docker/mlflow/Dockerfile [tracking-server]"
    assert "mlflow" in {name for name, _ in report.largest} or report.size_bytes > 100e6
