"""What every serving benchmark shares: a scratch store, a real server, timed load, the table.

The ``serve_*.py`` benchmarks each compare one project's server with the raw ONNX
Runtime session it wraps. Everything but the project's model, input and check lives
here, so the benchmarks measure alike: the same load loop and figures, the same server
command line (``invoke serve``'s protocol), the same throwaway MLflow store that never
touches the user's. Imported as a sibling module: ``uv run python benchmarks/<name>.py``
puts ``benchmarks/`` first on ``sys.path``.
"""

from __future__ import annotations

import gzip
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, Protocol, TypeVar

import httpx
import nibabel as nib
import numpy as np
from numpy.typing import NDArray

from medai.config.sections import ProjectSettings
from medai.project import ProjectBinding
from medai.serving.launch import HTTP_PROTOCOL

HOST = "127.0.0.1"
API_KEY = "bench-key-" + "k" * 24
MAX_REQUESTS_PER_CLIENT = 100_000
HTTP_TIMEOUT_S = 180.0
READY_POLL_S = 0.02
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
NIFTI_GZ = "application/gzip"

SettingsT = TypeVar("SettingsT", bound=ProjectSettings)

Files = Mapping[str, tuple[str, bytes, str]]
"""Multipart parts as httpx takes them: field name -> (file name, content, media type)."""


# ----------------------------------------------------------------------------- results


@dataclass(frozen=True)
class LoadResult:
    """What one fixed-duration load run measured."""

    name: str
    clients: int
    wall_seconds: float
    latencies: list[float]
    errors: int
    first_error: str | None

    @property
    def throughput(self) -> float:
        """Successful requests per second of wall time."""
        return len(self.latencies) / self.wall_seconds if self.wall_seconds > 0 else 0.0

    def percentile_ms(self, q: float) -> float:
        """Latency percentile of the successful requests, in milliseconds (nan if none)."""
        if not self.latencies:
            return float("nan")
        return float(np.percentile(self.latencies, q)) * 1000

    def line(self) -> str:
        """One table row."""
        return (
            f"{self.name:<40} {self.clients:>7} {len(self.latencies):>6} "
            f"{self.throughput:>9.2f} {self.percentile_ms(50):>9.1f} "
            f"{self.percentile_ms(99):>9.1f} {self.errors:>6}"
        )


def table_header(unit: str = "vol/s") -> str:
    """The column names above ``LoadResult.line`` rows; ``unit`` names the throughput."""
    return (
        f"{'contender':<40} {'clients':>7} {'done':>6} {unit:>9} "
        f"{'p50 ms':>9} {'p99 ms':>9} {'errors':>6}"
    )


def run_load(name: str, request: Callable[[int], None], clients: int, seconds: float) -> LoadResult:
    """Call ``request(client_index)`` in ``clients`` threads, each in a loop for ``seconds``.

    A request that raises counts as an error. Each loop stops at the deadline or after
    ``MAX_REQUESTS_PER_CLIENT`` requests; the wall time runs until the last one returned,
    so a slow last request lowers the throughput rather than being dropped.
    """
    lock = threading.Lock()
    latencies: list[float] = []
    errors: list[str] = []
    start = time.perf_counter()
    deadline = start + seconds

    def client_loop(index: int) -> None:
        mine: list[float] = []
        failures: list[str] = []
        for _ in range(MAX_REQUESTS_PER_CLIENT):
            if time.perf_counter() >= deadline:
                break
            began = time.perf_counter()
            try:
                request(index)
            except Exception as exc:  # noqa: BLE001 - every failure is an error to count
                failures.append(f"{type(exc).__name__}: {exc}"[:300])
            else:
                mine.append(time.perf_counter() - began)
        with lock:
            latencies.extend(mine)
            errors.extend(failures)

    with ThreadPoolExecutor(max_workers=clients) as pool:
        for future in [pool.submit(client_loop, i) for i in range(clients)]:
            future.result()
    wall = time.perf_counter() - start
    return LoadResult(name, clients, wall, latencies, len(errors), errors[0] if errors else None)


def merged(results: Sequence[LoadResult]) -> LoadResult:
    """Several runs of one contender as one: their requests over their summed wall time."""
    first = results[0]
    errors = [r.first_error for r in results if r.first_error]
    return LoadResult(
        first.name,
        first.clients,
        sum(r.wall_seconds for r in results),
        [latency for r in results for latency in r.latencies],
        sum(r.errors for r in results),
        errors[0] if errors else None,
    )


def run_interleaved(
    contenders: Mapping[str, Callable[[int], None]], clients: int, seconds: float, rounds: int
) -> dict[str, LoadResult]:
    """Each contender for ``seconds`` in all, in ``rounds`` turns taken in alternating order.

    On a machine others use too, load comes and goes within a minute: one contender
    measured after another would carry that drift into their ratio. Turns A B C, C B A,
    A B C ... give every contender the same share of each stretch of time.
    """
    names = list(contenders)
    runs: dict[str, list[LoadResult]] = {name: [] for name in names}
    for turn in range(rounds):
        for name in names if turn % 2 == 0 else reversed(names):
            runs[name].append(run_load(name, contenders[name], clients, seconds / rounds))
    return {name: merged(results) for name, results in runs.items()}


def report(result: LoadResult, unit: str = "vol/s") -> LoadResult:
    """Print one result as soon as it is known."""
    print(table_header(unit))
    print(result.line())
    if result.first_error:
        print(f"  first error: {result.first_error}")
    return result


def verdict(ok: bool) -> str:  # noqa: FBT001 - a yes/no printer
    """PASS or FAIL."""
    return "PASS" if ok else "FAIL"


def share_line(label: str, served: LoadResult, raw: LoadResult, target: float) -> str:
    """``served`` as a share of ``raw``'s throughput, against ``target``, with the verdict."""
    share = served.throughput / raw.throughput if raw.throughput > 0 else 0.0
    return (
        f"{label} vs raw ONNX Runtime ({served.clients} clients): {share:.1%} of "
        f"{raw.throughput:.2f}/s (target >= {target:.0%})  {verdict(share >= target)}"
    )


def load_average() -> str:
    """Other work on this machine skews every figure; say how much there was."""
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} over 1 min, {five:.2f} over 5 min"


def phase(title: str) -> None:
    """A phase header with the load average."""
    print(f"\n--- {title} --- ({load_average()})")


# ----------------------------------------------------------------------------- setup


@contextmanager
def scratch_root(prefix: str) -> Iterator[Path]:
    """A throwaway folder for the store, models and logs; MLflow calls without settings land there.

    ``MLFLOW_TRACKING_URI`` points into it while the block runs, so nothing a benchmark
    does can reach the user's store; it is restored afterwards.
    """
    before = os.environ.get("MLFLOW_TRACKING_URI")
    with tempfile.TemporaryDirectory(prefix=prefix) as scratch:
        root = Path(scratch)
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'guard-mlflow.db'}"
        try:
            yield root
        finally:
            if before is None:
                os.environ.pop("MLFLOW_TRACKING_URI", None)
            else:
                os.environ["MLFLOW_TRACKING_URI"] = before


class _Trained(Protocol):
    """What a kit's ``train`` returns, as far as a benchmark cares."""

    @property
    def model_version(self) -> str:
        """The registered version."""
        ...


@dataclass(frozen=True)
class Registered(Generic[SettingsT]):
    """A model trained and registered in the scratch store, and its materialized folder."""

    settings: SettingsT
    version: str
    model_dir: Path
    train_seconds: float


def register_and_materialize(
    binding: ProjectBinding[SettingsT],
    train: Callable[[SettingsT], _Trained],
    root: Path,
    overrides: Sequence[str],
    environ: Mapping[str, str] | None = None,
) -> Registered[SettingsT]:
    """Train with ``overrides`` into a store under ``root``, register, materialize as serve does.

    Args:
        binding: The project's settings binding.
        train: The kit's training run on resolved settings (``lambda s: train(PROJECT, s)``).
        root: The scratch folder (data, store, artifacts, models).
        overrides: The project's ``--set`` values that keep the run short.
        environ: The environment the settings resolve with (none of this process's).
    """
    from medai.serving.launch import materialize_model  # noqa: PLC0415 - imports MLflow

    scratch = [
        f"data.root={root / 'data'}",
        f"tracking.uri=sqlite:///{root / 'mlflow.db'}",
        f"tracking.artifact_location={(root / 'mlruns').as_uri()}",
    ]
    settings = binding.load([*scratch, *overrides], environ=dict(environ or {}))
    started = time.perf_counter()
    result = train(settings)
    seconds = time.perf_counter() - started
    model_dir = materialize_model(settings, binding.repo_root, root / "models", alias="challenger")
    return Registered(settings, str(result.model_version), model_dir, seconds)


# ----------------------------------------------------------------------------- processes


def free_port() -> int:
    """A port nobody listens on right now (on the loopback interface)."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def log_tail(path: Path, lines: int = 30) -> str:
    """The last lines of a subprocess log, for error messages."""
    if not path.exists():
        return "(no log)"
    text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return "\n".join(text[-lines:])


def stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate, wait, kill: never leave a server behind."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT_S)


@contextmanager
def subprocess_running(
    argv: list[str], env: Mapping[str, str], log_path: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``argv`` with output to ``log_path``; terminate, wait and if need be kill it."""
    with log_path.open("ab") as log:
        process = subprocess.Popen(argv, env=dict(env), stdout=log, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        stop(process)


def wait_for_200(
    url: str,
    process: subprocess.Popen[bytes],
    log_path: Path,
    timeout: float = READY_TIMEOUT_S,
    poll: float = READY_POLL_S,
) -> float:
    """Poll ``url`` until it answers 200; returns seconds since the call. Fails if it dies."""
    start = time.perf_counter()
    with httpx.Client(timeout=1.0, trust_env=False) as client:
        while time.perf_counter() - start < timeout:
            if process.poll() is not None:
                raise RuntimeError(
                    f"{process.args!r} exited with {process.returncode}:\n{log_tail(log_path)}"
                )
            try:
                if client.get(url).status_code == 200:
                    return time.perf_counter() - start
            except httpx.TransportError:
                pass
            time.sleep(poll)
    raise RuntimeError(f"{url} did not answer 200 within {timeout} s:\n{log_tail(log_path)}")


def server_env(model_dir: Path, root: Path, api_key: str = API_KEY) -> dict[str, str]:
    """This process's environment for a development server on ``model_dir`` with one key.

    No tracking URI (a server needs no registry) and no key file; temporary files under
    ``root``, so a benchmark leaves nothing behind.
    """
    env = {
        **os.environ,
        "MEDAI_ENV": "development",
        "MEDAI_API_KEYS": api_key,
        "MEDAI__API__MODEL_DIR": str(model_dir),
        "TMPDIR": str(root),
    }
    for name in ("MLFLOW_TRACKING_URI", "MEDAI_API_KEYS_FILE"):
        env.pop(name, None)
    return env


def server_argv(app_factory: str, port: int, python: Path | None = None) -> list[str]:
    """The uvicorn command line on the app factory, with the protocol ``invoke serve`` runs.

    ``HTTP_PROTOCOL`` (the request-head deadline and connection cap) is what a deployed
    server and the integration tests run, so it is part of what is measured. One worker:
    the raw session it is compared with is one session too.
    """
    return [
        str(python or sys.executable),
        "-m",
        "uvicorn",
        "--factory",
        app_factory,
        "--http",
        HTTP_PROTOCOL,
        "--host",
        HOST,
        "--port",
        str(port),
        "--no-access-log",
    ]


@dataclass(frozen=True)
class Server:
    """A running server: where it answers and its process."""

    url: str
    process: subprocess.Popen[bytes]

    @property
    def alive(self) -> bool:
        """Whether the process still runs."""
        return self.process.poll() is None


@contextmanager
def serving(app_factory: str, env: Mapping[str, str], log_path: Path) -> Iterator[Server]:
    """Start the server on a free port, wait for ``/ready``, stop it when the block ends."""
    port = free_port()
    with subprocess_running(server_argv(app_factory, port), env, log_path) as process:
        url = f"http://{HOST}:{port}"
        wait_for_200(f"{url}/ready", process, log_path)
        yield Server(url, process)


# ----------------------------------------------------------------------------- HTTP


@contextmanager
def http_clients(count: int) -> Iterator[list[httpx.Client]]:
    """``count`` keep-alive clients, one per load thread."""
    clients = [httpx.Client(timeout=HTTP_TIMEOUT_S, trust_env=False) for _ in range(count)]
    try:
        yield clients
    finally:
        for client in clients:
            client.close()


def post_predict(
    client: httpx.Client, url: str, files: Files, api_key: str = API_KEY
) -> httpx.Response:
    """POST ``files`` to ``/v1/predict`` with the key; the response, whatever its status."""
    return client.post(f"{url}/v1/predict", files=files, headers={"X-API-Key": api_key})


def _has_body(response: httpx.Response) -> None:
    if not response.content:
        raise RuntimeError("HTTP 200 with an empty body")


def predict_request(
    url: str,
    clients: Sequence[httpx.Client],
    files: Files,
    check: Callable[[httpx.Response], None] = _has_body,
) -> Callable[[int], None]:
    """POST ``files`` to ``/v1/predict`` with client ``i``; raise unless 200 and ``check`` passes.

    ``check`` defaults to a non-empty body.
    """

    def request(index: int) -> None:
        response = post_predict(clients[index], url, files)
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code}: {response.text[:200]}")
        check(response)

    return request


def decode_mask(body: bytes) -> NDArray[np.uint8]:
    """The mask in a ``/v1/predict`` NIfTI (gzip) response."""
    image = nib.Nifti1Image.from_bytes(gzip.decompress(body))
    return np.asarray(image.dataobj, dtype=np.uint8)


def check_mask(label: str, response: httpx.Response, reference: NDArray[np.uint8]) -> int:
    """Voxels where the server's mask differs from the in-process one (0 expected); printed."""
    response.raise_for_status()
    mask = decode_mask(response.content)
    if mask.shape != reference.shape:
        print(f"{label}: mask shape {mask.shape}, in-process {reference.shape}")
        return int(reference.size)
    mismatched = int(np.count_nonzero(mask != reference))
    print(f"{label}: server mask vs in-process mask: {mismatched} voxels differ")
    return mismatched
