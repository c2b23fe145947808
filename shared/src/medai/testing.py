"""Helpers for the projects' tests that would otherwise be copied between them."""

from __future__ import annotations

import importlib
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Generic, ParamSpec, TypeVar

from medai.config import ProjectSettings
from medai.project import KitProject, ProjectBinding

SettingsT = TypeVar("SettingsT", bound=ProjectSettings)
Params = ParamSpec("Params")
Result = TypeVar("Result")

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


@dataclass(frozen=True)
class TrainedDemo(Generic[SettingsT]):
    """A demo project trained and then evaluated once, with what each step returned."""

    demo: DemoProject[SettingsT]
    settings: SettingsT
    """The settings it was trained and evaluated with (its MLflow store included)."""
    result: Any
    """The kit's training result."""
    evaluation: Any
    """The kit's evaluation of the registered version."""


def train_demo(
    demo: DemoProject[SettingsT],
    store: Path,
    train: Callable[[Any, SettingsT], object],
    evaluate: Callable[[Any, SettingsT], object],
    *overrides: str,
) -> TrainedDemo[SettingsT]:
    """Train ``demo`` into a throwaway MLflow store, then evaluate the version it registered.

    A kit's pipeline tests do this once per session and read the result in every test.

    Args:
        demo: The demo project.
        store: Folder for the SQLite store (``mlflow.db``) and its artifacts (``mlruns``).
        train: The kit's training, imported by the caller (it loads torch and MLflow).
        evaluate: The kit's evaluation, likewise.
        *overrides: ``--set`` style values that shrink the run further.

    Returns:
        The project, its settings and what training and evaluation returned.
    """
    settings = demo.load(
        f"tracking.uri=sqlite:///{store / 'mlflow.db'}",
        f"tracking.artifact_location={(store / 'mlruns').as_uri()}",
        *overrides,
    )
    result = train(demo.project, settings)
    return TrainedDemo(demo, settings, result, evaluate(demo.project, settings))


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


def migrated_mlflow_store(folder: Path) -> Path:
    """An empty SQLite MLflow store in ``folder``, its tables created.

    Creating MLflow's tables takes seconds; tests make one per module with this and copy
    the file for each test, which takes none.
    """
    from mlflow.tracking import MlflowClient  # noqa: PLC0415 - MLflow: integration tests only

    path = folder / "mlflow.db"
    uri = f"sqlite:///{path}"
    MlflowClient(tracking_uri=uri, registry_uri=uri).search_experiments()
    return path


def interrupted_at_call(real: Callable[Params, Result], call: int) -> Callable[Params, Result]:
    """``real``, except that its ``call``-th call raises ``KeyboardInterrupt`` instead.

    Stands for a Ctrl-C in the middle of a long writer (patched over the function that
    writes each file), so a test can check that the run leaves nothing half-written.
    """
    calls = 0

    def wrapper(*args: Params.args, **kwargs: Params.kwargs) -> Result:
        nonlocal calls
        calls += 1
        if calls == call:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    return wrapper


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


class KindCommandChecks:
    """What every kind's commands must do before any model is loaded.

    Subclass it as ``TestKindCommands`` in a kind's ``test_cli.py`` beside the fixtures
    ``commands`` (the kind's ``project_commands`` on its demo project) and ``demo`` (that
    ``DemoProject``, in a fresh folder).
    """

    def test_evaluate_without_a_registered_model_says_so_in_one_line(
        self,
        commands: Any,  # noqa: ANN401 - medai.cli.Commands
        demo: DemoProject[Any],
        capsys: Any,  # noqa: ANN401 - pytest's fixture
    ) -> None:
        """An empty registry: one error line naming the model and the aliases tried."""
        store = f"sqlite:///{demo.root / 'mlflow.db'}"

        assert commands.evaluate(["--set", f"tracking.uri={store}"]) == 2

        errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error")]
        expected = (
            f"error: registered model '{demo.binding.name}' has no version with alias "
            "champion, challenger; train one first"
        )
        assert errors == [expected]

    def test_serve_in_production_without_an_api_key_refuses_first(
        self,
        commands: Any,  # noqa: ANN401 - medai.cli.Commands
        monkeypatch: Any,  # noqa: ANN401 - pytest's fixture
        capsys: Any,  # noqa: ANN401 - pytest's fixture
    ) -> None:
        """No key in production: exit 2 before the registry is read, saying what is missing."""
        import pytest  # noqa: PLC0415 - only test sessions run this

        monkeypatch.setenv("MEDAI_ENV", "production")
        monkeypatch.delenv("MEDAI_API_KEYS", raising=False)
        monkeypatch.delenv("MEDAI_API_KEYS_FILE", raising=False)

        with pytest.raises(SystemExit) as caught:
            commands.serve([])

        assert caught.value.code == 2
        assert "production needs at least one API key" in capsys.readouterr().err


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


def session_fixtures(
    project: KitProject[Any, Any], shrink: Mapping[str, object], train: str
) -> tuple[Any, Any, Any, Any]:
    """A project's session fixtures, so each project's conftest need not copy them.

    They are ``session_overrides``, ``session_options``, ``registry`` and ``trained``
    (the shrunk model, trained once and registered as challenger). Assign them in the
    project's ``tests/conftest.py``; pytest finds fixtures by name::

        session_overrides, session_options, registry, trained = session_fixtures(
            PROJECT, SMALL, train="medai.classification.training_run:train"
        )

    Args:
        project: The project's ``KitProject``.
        shrink: ``--set`` values that make a whole run take seconds.
        train: ``module:function`` of the kit's ``train(project, settings)``, imported
            only when a test asks for ``trained`` (torch, MONAI and MLflow load then).
    """
    import pytest  # noqa: PLC0415 - only test sessions call this

    binding = project.binding

    @pytest.fixture(scope="session")
    def session_overrides(tmp_path_factory: Any) -> list[str]:  # noqa: ANN401 - pytest's
        """``shrink`` plus a data folder, reports and MLflow store of the session's own."""
        return throwaway_overrides(tmp_path_factory.mktemp(binding.name), shrink)

    @pytest.fixture(scope="session")
    def session_options(session_overrides: list[str]) -> list[str]:
        """The same overrides as command-line options."""
        return as_options(session_overrides)

    @pytest.fixture(scope="session")
    def registry(session_overrides: list[str]) -> Any:  # noqa: ANN401 - an MlflowClient
        """A client of the session's store, its registry included."""
        return registry_client(binding, session_overrides)

    @pytest.fixture(scope="session")
    def trained(session_overrides: list[str]) -> Any:  # noqa: ANN401 - the kit's result
        """The shrunk model, trained once per session and registered as ``challenger``."""
        module, function = train.split(":")
        run = getattr(importlib.import_module(module), function)
        return run(project, binding.load(session_overrides, environ={}))

    return session_overrides, session_options, registry, trained


class SettingsChecks:
    """What every project's config must do; subclass as ``TestSettings`` with ``binding``.

    ``bad_values`` pairs a ``--set`` override the project must refuse with a regular
    expression its one-line error must match.
    """

    binding: ClassVar[ProjectBinding[Any]]
    bad_values: ClassVar[Sequence[tuple[str, str]]] = (
        ("train.epoch=3", r"^--set train\.epoch=3: train\.epoch: unknown key; did you mean"),
    )

    def test_a_set_override_beats_an_environment_variable(self) -> None:
        """``--set`` wins over ``MEDAI__*``, which wins over the config files."""
        environ = {"MEDAI__TRAIN__EPOCHS": "7"}
        assert self.binding.load(environ=environ).train.epochs == 7
        assert self.binding.load(["train.epochs=9"], environ=environ).train.epochs == 9

    def test_each_bad_value_stops_the_load_with_one_line_naming_it(self) -> None:
        """A bad value is refused with one line that names it, never a traceback dump."""
        import pytest  # noqa: PLC0415 - only test sessions run this

        from medai.config import ConfigError  # noqa: PLC0415 - cheap; keeps the top light

        for override, message in self.bad_values:
            with pytest.raises(ConfigError, match=message) as caught:
                self.binding.load([override], environ={})
            assert "\n" not in str(caught.value), override


def _status_kib(pid: int, field: str) -> int:
    """One ``VmRSS``/``VmHWM`` line of ``/proc/<pid>/status``, in KiB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise LookupError(f"/proc/{pid}/status has no {field} line")


class PeakMemory:
    """How far a process's resident memory rose above where it was, e.g. during one request.

    Linux keeps the peak resident set (VmHWM) per process; writing ``5`` to
    ``/proc/<pid>/clear_refs`` resets it to the current size, so the growth one request
    caused is read without sampling races. The test must own the process (it started it).
    """

    def __init__(self, pid: int) -> None:
        """Measure the process ``pid``."""
        self.pid = pid
        self.baseline_kib = 0

    def reset(self) -> None:
        """Start a measurement: the peak becomes the current resident size."""
        Path(f"/proc/{self.pid}/clear_refs").write_text("5", encoding="ascii")
        self.baseline_kib = _status_kib(self.pid, "VmRSS")

    def growth_mb(self) -> float:
        """Peak resident memory since ``reset`` above the resident size at ``reset``, in MB."""
        return (_status_kib(self.pid, "VmHWM") - self.baseline_kib) / 1024


SCHEMA_CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
)
"""Schemathesis checks a server must pass: no 5xx, and every answer as documented."""


def schemathesis_argv(
    schema_url: str, api_key: str, *, max_examples: int = 40, checks: Sequence[str] = SCHEMA_CHECKS
) -> list[str]:
    """The schemathesis command that fuzzes every operation of ``schema_url`` with a valid key."""
    return [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        schema_url,
        "-H",
        f"X-API-Key: {api_key}",
        "--checks",
        ",".join(checks),
        "--max-examples",
        str(max_examples),
        "--generation-deterministic",
        "--request-timeout",
        "60",
    ]


def read_until_closed(client: Any) -> str:  # noqa: ANN401 - a socket.socket
    """Everything a server sends on ``client`` until it closes (head and body may be apart)."""
    chunks = []
    while chunk := client.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks).decode("latin-1")


class ConnectionAbuseChecks:
    """What every project's real server must do with unauthenticated and slow clients.

    Subclass it as ``TestConnectionAbuse`` in a project's integration tests and provide the
    fixture ``abused_server``: an object with ``url`` (``http://127.0.0.1:PORT``) and
    ``api_key``, of a uvicorn started with ``--http medai.serving.launch.HTTP_PROTOCOL``
    and header and body-idle deadlines of ``deadline_s`` seconds
    (``MEDAI__API__HEADER_TIMEOUT_S``, ``MEDAI__API__BODY_IDLE_TIMEOUT_S``).
    """

    deadline_s: ClassVar[float] = 3.0
    slack_s: ClassVar[float] = 7.0
    """How much longer than the deadline a loaded CI machine may take to drop a client."""

    @staticmethod
    def _connect(server: Any) -> Any:  # noqa: ANN401 - the fixture's object; a socket
        import socket  # noqa: PLC0415 - test support only

        host, port = server.url.removeprefix("http://").split(":")
        return socket.create_connection((host, int(port)), timeout=30)

    @staticmethod
    def _assert_serving(server: Any) -> None:  # noqa: ANN401 - the fixture's object
        import httpx  # noqa: PLC0415 - a test dependency

        assert httpx.get(f"{server.url}/health", timeout=5).status_code == 200

    def _dropped_within_deadline(self, server: Any, sent: bytes) -> str:  # noqa: ANN401
        started = time.perf_counter()
        with self._connect(server) as client:
            client.sendall(sent)
            answer = read_until_closed(client)
        waited = time.perf_counter() - started
        assert waited < self.deadline_s + self.slack_s, f"held open {waited:.1f} s"
        self._assert_serving(server)
        return answer

    def test_an_unauthenticated_upload_is_refused_before_its_body_is_read(
        self,
        abused_server: Any,  # noqa: ANN401 - the project's fixture
    ) -> None:
        """Headers announce 200 MB; the 401 comes back although not one body byte was sent."""
        head = (
            "POST /v1/predict HTTP/1.1\r\nHost: x\r\n"
            "Content-Type: multipart/form-data; boundary=x\r\n"
            f"Content-Length: {200 << 20}\r\n\r\n"
        )
        with self._connect(abused_server) as client:
            client.sendall(head.encode())
            answer = read_until_closed(client)
        assert answer.startswith("HTTP/1.1 401"), answer[:200]
        assert '"code":"unauthorized"' in answer.replace(" ", "")
        self._assert_serving(abused_server)

    def test_a_malformed_body_without_a_key_is_401_not_400(
        self,
        abused_server: Any,  # noqa: ANN401 - the project's fixture
    ) -> None:
        """Nothing of the body is parsed before the key is checked."""
        import httpx  # noqa: PLC0415 - a test dependency

        response = httpx.post(
            f"{abused_server.url}/v1/predict",
            content=b"--x\r\nnot a form",
            headers={"Content-Type": "multipart/form-data; boundary=x"},
            timeout=10,
        )
        assert response.status_code == 401, response.text

    def test_a_client_that_stops_mid_head_is_dropped_with_408(
        self,
        abused_server: Any,  # noqa: ANN401 - the project's fixture
    ) -> None:
        """Slowloris: half a request head, then silence."""
        answer = self._dropped_within_deadline(
            abused_server, b"POST /v1/predict HTTP/1.1\r\nHost: x\r\n"
        )
        assert answer.startswith("HTTP/1.1 408"), answer[:200]

    def test_a_client_that_sends_nothing_is_dropped(
        self,
        abused_server: Any,  # noqa: ANN401 - the project's fixture
    ) -> None:
        """An open socket that never speaks is closed silently within the deadline."""
        assert self._dropped_within_deadline(abused_server, b"") == ""

    def test_a_body_that_stops_gets_408_within_the_deadline(
        self,
        abused_server: Any,  # noqa: ANN401 - the project's fixture
    ) -> None:
        """Authenticated, then the body stalls after its first bytes."""
        head = (
            "POST /v1/predict HTTP/1.1\r\nHost: x\r\n"
            f"X-API-Key: {abused_server.api_key}\r\n"
            "Content-Type: multipart/form-data; boundary=x\r\n"
            "Content-Length: 100000\r\n\r\n--x\r\n"
        )
        answer = self._dropped_within_deadline(abused_server, head.encode())
        assert answer.startswith("HTTP/1.1 408"), answer[:200]
        assert '"request_timeout"' in answer

    def test_head_health_answers_like_get(
        self,
        abused_server: Any,  # noqa: ANN401 - the project's fixture
    ) -> None:
        """Probes that send HEAD (load balancers) get 200 with no body."""
        import httpx  # noqa: PLC0415 - a test dependency

        response = httpx.head(f"{abused_server.url}/health", timeout=5)
        assert response.status_code == 200
        assert response.content == b""


def assert_hostile_refused(response: Any, attribute: str | None) -> None:  # noqa: ANN401 - httpx
    """A server's answer to a ``medai.hostile`` member: a 4xx in the one error schema.

    One line, no planted PHI, and the broken attribute named when the member says which.
    """
    from medai.hostile import PLANTED_PHI  # noqa: PLC0415 - pydicom and nibabel: tests only

    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert error["status"] == response.status_code
    assert error["message"]
    assert "\n" not in error["message"]
    assert not any(secret in response.text for secret in PLANTED_PHI)
    if attribute is not None:
        assert attribute in error["message"], error["message"]


def assert_hostile_refused_in_one_line(status: int, err: str, attribute: str | None) -> None:
    """A command's answer to a ``medai.hostile`` member: exit 2 and one ``error:`` line.

    Before it may stand only the development fallback's warning of which version would
    have answered; the error names the attribute when the member says which.
    """
    from medai.hostile import PLANTED_PHI  # noqa: PLC0415 - pydicom and nibabel: tests only

    assert status == 2, err
    *warnings, last = err.splitlines()
    assert last.startswith("error: "), err
    assert all(line.startswith("WARNING: no champion") for line in warnings), err
    if attribute is not None:
        assert attribute in err
    assert not any(secret in err for secret in PLANTED_PHI)
