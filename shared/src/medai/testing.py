"""Helpers for the projects' tests that would otherwise be copied between them."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

from medai.config import ProjectSettings
from medai.project import KitProject, ProjectBinding

SettingsT = TypeVar("SettingsT", bound=ProjectSettings)

HEAVY_PACKAGES = frozenset({"torch", "monai", "mlflow"})
"""Packages a light path (serving, config, IO) must not import: seconds each to load."""


def packages_loaded_by(modules: Iterable[str], watch: Iterable[str] = HEAVY_PACKAGES) -> set[str]:
    """Which of ``watch`` a fresh interpreter has in ``sys.modules`` after importing ``modules``.

    A fresh subprocess, because the test process itself has usually imported them already.
    """
    watched = sorted(set(watch))
    code = (
        "import importlib, sys\n"
        f"for name in {sorted(modules)!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(','.join(sorted({{m.split('.')[0] for m in sys.modules}} & set({watched!r}))))\n"
    )
    result = subprocess.run(  # noqa: S603 - this interpreter, fixed code
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return {name for name in result.stdout.strip().split(",") if name}


def write_demo_repo(root: Path, name: str, package: str, base_yaml: str) -> Path:
    """A monorepo folder under ``root`` holding one project's configs; nothing installed.

    Args:
        root: The repo root to create.
        name: The project's folder (``projects/<name>``).
        package: Its import name (``src/<package>``).
        base_yaml: Its ``configs/base.yaml``; ``production.yaml`` forbids synthetic data.

    Returns:
        The package's ``__init__.py`` path, for a ``ProjectBinding`` (it need not exist).
    """
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text("[tool.uv.workspace]\nmembers = []\n", encoding="utf-8")
    configs = root / "projects" / name / "configs"
    configs.mkdir(parents=True)
    (configs / "base.yaml").write_text(base_yaml, encoding="utf-8")
    (configs / "development.yaml").write_text("", encoding="utf-8")
    (configs / "production.yaml").write_text("data:\n  allow_synthetic: false\n", encoding="utf-8")
    return root / "projects" / name / "src" / package / "__init__.py"


@dataclass(frozen=True)
class DemoProject(Generic[SettingsT]):
    """A kit project in a throwaway repo folder, as a kit's tests use it."""

    root: Path
    project: KitProject[SettingsT, Any]

    @property
    def binding(self) -> ProjectBinding[SettingsT]:
        """The project's binding."""
        return self.project.binding

    def load(self, *overrides: str, env: str = "development") -> SettingsT:
        """The settings of ``env`` with ``--set`` style overrides (the real environment unread)."""
        return self.binding.load(list(overrides), environ={"MEDAI_ENV": env})


def start_test_client(
    client_type: Any,  # noqa: ANN401 - fastapi's TestClient class, imported by the caller
    app: Any,  # noqa: ANN401 - a FastAPI app made by medai.serving.create_app
    timeout: float = 60.0,
) -> Any:  # noqa: ANN401 - the entered client
    """Enter a ``TestClient`` on ``app`` and wait until its model is loaded (or failed to).

    The caller exits the client. The class comes from the caller, so that this module
    does not import FastAPI (and its TestClient warning stays scoped to the test suite).
    """
    client = client_type(app)
    client.__enter__()
    deadline = time.monotonic() + timeout
    while client.get("/ready").status_code != 200 and time.monotonic() < deadline:
        if app.state.model_error:
            break
        time.sleep(0.02)
    return client


def throwaway_overrides(workdir: Path, shrink: Mapping[str, object]) -> list[str]:
    """``shrink`` as ``--set`` values, plus data, reports and an MLflow store in ``workdir``.

    What a project's integration tests need to train, evaluate and deploy for real
    without touching the repo's data folder or its MLflow store.
    """
    places = {
        "data.root": workdir / "data",
        "evaluate.output_dir": workdir / "reports",
        "tracking.uri": f"sqlite:///{workdir / 'mlflow.db'}",
        "tracking.artifact_location": (workdir / "mlruns").as_uri(),
    }
    return [f"{key}={value}" for key, value in {**shrink, **places}.items()]


def as_options(overrides: Iterable[str]) -> list[str]:
    """Overrides as command-line options: ``--set KEY=VALUE`` each."""
    return [word for override in overrides for word in ("--set", override)]


def registry_client(binding: ProjectBinding[Any], overrides: Sequence[str]) -> Any:  # noqa: ANN401 - an MlflowClient; MLflow loads only when called
    """A client of the store ``overrides`` name, its registry included.

    Both URIs are given: a client without ``registry_uri`` takes the process-wide one,
    which the last command run in the test process has set.
    """
    from mlflow.tracking import MlflowClient  # noqa: PLC0415 - MLflow: integration tests only

    uri = binding.load(list(overrides), environ={}).tracking.uri
    return MlflowClient(uri, registry_uri=uri)


class PromotionGateChecks:
    """A project's deploy and rollback commands, end to end on its session's trained model.

    Subclass it as ``TestPromotionGate`` in ``tests/integration/test_deployment.py``, set
    ``model_name``, ``deploy`` and ``rollback`` (the project's ``deploy_main`` and
    ``rollback_main``), and provide the fixtures ``trained`` (a training result with
    ``model_version``), ``registry`` (a client of its store) and ``session_options``.
    """

    model_name: ClassVar[str]
    deploy: ClassVar[Callable[[Sequence[str]], int]]
    rollback: ClassVar[Callable[[Sequence[str]], int]]
    api_key: ClassVar[str] = "gate-test-key-0123456789"
    """The deploy command refuses to promote when the server would have no API key."""

    def champion_of(self, registry: Any) -> str | None:  # noqa: ANN401 - an MlflowClient
        """The version behind ``champion``, or None."""
        aliases = registry.get_registered_model(self.model_name).aliases
        return str(aliases["champion"]) if "champion" in aliases else None

    def test_a_first_deploy_promotes_the_challenger_and_records_why(
        self,
        trained: Any,  # noqa: ANN401 - the kit's TrainingResult
        registry: Any,  # noqa: ANN401 - an MlflowClient
        session_options: list[str],
        monkeypatch: Any,  # noqa: ANN401 - pytest's fixture
    ) -> None:
        """No champion yet: the challenger is promoted and the decision recorded on it."""
        monkeypatch.setenv("MEDAI_API_KEYS", self.api_key)

        assert type(self).deploy(["--env", "staging", *session_options]) == 0
        assert self.champion_of(registry) == trained.model_version
        tags = registry.get_model_version(self.model_name, trained.model_version).tags
        assert tags["deploy.decision"] == "promoted"
        assert tags["deploy.environment"] == "staging"

    def test_rolling_back_the_first_champion_is_refused_in_one_line(
        self,
        trained: Any,  # noqa: ANN401 - the kit's TrainingResult
        registry: Any,  # noqa: ANN401 - an MlflowClient
        session_options: list[str],
        monkeypatch: Any,  # noqa: ANN401 - pytest's fixture
        capsys: Any,  # noqa: ANN401 - pytest's fixture
    ) -> None:
        """The first champion has nothing before it: one line, champion unchanged."""
        monkeypatch.setenv("MEDAI_API_KEYS", self.api_key)
        type(self).deploy(["--env", "staging", *session_options])  # promotes, or did already
        capsys.readouterr()

        assert type(self).rollback(session_options) == 2  # the user-error exit code
        refusal = capsys.readouterr().err
        assert refusal.endswith(
            "is the first champion: there is no previous one to roll back to; champion unchanged\n"
        )
        assert refusal.count("\n") == 1
        assert self.champion_of(registry) == trained.model_version
