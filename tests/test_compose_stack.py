"""docker/docker-compose.yml: the shared MLflow stack, and every compose file, as text.

No Docker engine runs here, so the stack is checked as data: against the Compose
specification's schema, and for what it promises: MLflow on PostgreSQL and MinIO, every
project's server pointed at it, every variable documented in docker/.env.example, and
nothing secret committed.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
STACK = ROOT / "docker" / "docker-compose.yml"
ENV_EXAMPLE = ROOT / "docker" / ".env.example"
PROJECTS = sorted(p.parent.name for p in ROOT.glob("projects/*/pyproject.toml"))
COMPOSE_FILES = [STACK, *sorted(ROOT.glob("projects/*/docker/docker-compose*.yml"))]
VARIABLE = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)")


@pytest.fixture(scope="module")
def stack() -> dict:
    return yaml.safe_load(STACK.read_text())


def _validate(*files: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec"]
    return subprocess.run([*command, *map(str, files)], capture_output=True, text=True, check=False)


def test_every_compose_file_follows_the_compose_specification():
    result = _validate(*COMPOSE_FILES)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_catches_a_broken_compose_file(tmp_path):
    broken = tmp_path / "docker-compose.yml"
    broken.write_text("services:\n  mlflow:\n    image: x\n    restart: sometimes\n    portz: []\n")
    result = _validate(broken)
    assert result.returncode == 1
    assert "portz" in result.stdout or "sometimes" in result.stdout


def _documented(text: str) -> dict[str, str]:
    """``NAME -> value`` for ``NAME=value`` and ``# NAME=default`` lines of the example."""
    found = re.findall(r"^#?\s*([A-Z_][A-Z0-9_]*)=(.*)$", text, re.MULTILINE)
    return dict(found)


def test_every_variable_of_the_stack_is_documented_and_every_documented_one_is_used():
    used = set(VARIABLE.findall(STACK.read_text()))
    documented = set(_documented(ENV_EXAMPLE.read_text()))
    assert used - documented == set(), "used in docker-compose.yml, missing in .env.example"
    assert documented - used == set(), "documented in .env.example, not used by the stack"


def test_the_example_commits_no_secret_and_the_real_env_file_is_ignored():
    values = _documented(ENV_EXAMPLE.read_text())
    for name, value in values.items():
        if "PASSWORD" in name:
            assert value.startswith("change-me"), f"{name} must be a placeholder, got {value!r}"
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", "docker/.env"],  # noqa: S607 - git from PATH
        cwd=ROOT,
        check=False,
    )
    assert ignored.returncode == 0, "docker/.env must be git-ignored"


def test_mlflow_keeps_runs_in_postgres_and_artifacts_in_minio(stack):
    mlflow = stack["services"]["mlflow"]
    env = mlflow["environment"]
    # psycopg2 is what the mlflow-server group installs; bare postgresql:// means psycopg 3.
    assert env["MLFLOW_BACKEND_STORE_URI"].startswith("postgresql+psycopg2://")
    assert "@postgres:5432/" in env["MLFLOW_BACKEND_STORE_URI"]
    assert env["MLFLOW_ARTIFACTS_DESTINATION"].startswith("s3://")
    assert env["MLFLOW_S3_ENDPOINT_URL"] == "http://minio:9000"
    assert mlflow["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert mlflow["depends_on"]["minio-init"]["condition"] == "service_completed_successfully"
    assert mlflow["build"]["dockerfile"] == "docker/mlflow/Dockerfile"
    assert (ROOT / "docker" / "mlflow" / "Dockerfile").is_file()
    for service in ("postgres", "minio", "mlflow"):
        assert "healthcheck" in stack["services"][service], service


@pytest.mark.parametrize("project", PROJECTS)
def test_every_project_server_is_pointed_at_the_stack(stack, project):
    services = stack["services"]
    assert f"{project}-init" in services, f"add {project} to docker/docker-compose.yml"
    init, server = services[f"{project}-init"], services[project]
    assert init["environment"]["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert init["depends_on"]["mlflow"]["condition"] == "service_healthy"
    assert init["build"]["target"] == "train"
    assert server["build"]["target"] == "serve"
    for service in (init, server):
        assert service["build"]["args"]["PROJECT"] == project
        assert service["build"]["dockerfile"] == "docker/Dockerfile.project"
    assert server["depends_on"][f"{project}-init"]["condition"] == "service_completed_successfully"
    for service in (init, server):  # the init step checks the server's start-up too
        assert service["environment"]["MEDAI_API_KEYS_FILE"] == "/run/secrets/api_keys"
        assert service["secrets"] == ["api_keys"]
    assert "MEDAI_API_KEYS" not in server["environment"]  # keys from the secret file only
    models = {v.split(":")[0] for v in init["volumes"]} & {
        v.split(":")[0] for v in server["volumes"]
    }
    assert models == {f"{project}-models"}
    assert any(v.endswith(":ro") for v in server["volumes"])


@pytest.mark.parametrize("compose", COMPOSE_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_model_volumes_outlive_the_init_step(compose):
    """The init step writes the model and exits; a tmpfs volume would be emptied right then."""
    volumes = yaml.safe_load(compose.read_text()).get("volumes") or {}
    for name, options in volumes.items():
        driver_opts = (options or {}).get("driver_opts", {})
        assert driver_opts.get("type") != "tmpfs", f"{compose.name}: volume {name} is tmpfs"


def test_the_images_own_models_so_a_fresh_volume_is_writable_by_the_init_step():
    recipe = (ROOT / "docker" / "Dockerfile.project").read_text()
    assert "mkdir -p /models && chown medai:medai /models" in recipe


@pytest.mark.parametrize("compose", COMPOSE_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_builds_name_the_recipe_itself_not_a_link_to_it(compose):
    """BuildKit reads the Dockerfile from its own folder; a link out of it fails the build."""
    services = yaml.safe_load(compose.read_text())["services"]
    dockerfiles = {s["build"]["dockerfile"] for s in services.values() if "build" in s}
    if compose.name == "docker-compose.yml":  # the overlays build nothing of their own
        assert dockerfiles, compose
    for dockerfile in dockerfiles:  # every build context here is the repo root
        assert (ROOT / dockerfile).is_file(), dockerfile
        assert not (ROOT / dockerfile).is_symlink(), dockerfile
