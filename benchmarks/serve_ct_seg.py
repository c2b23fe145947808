"""Serving throughput of ct-seg: our server against raw ONNX Runtime and ``mlflow models serve``.

One run trains and registers a development-size ct-seg model in a throwaway MLflow store
(never the user's), materializes it as ``invoke serve`` does, and sends the very same
synthetic 64^3 CT volume (1.5 mm, so no resampling) to three contenders, one at a time:

1. raw ONNX Runtime in-process (the limit): ``OnnxSegmenter.segment`` on the already decoded
   volume, i.e. the server's sliding-window model work without HTTP, gzip or NIfTI coding;
2. our server: ``uvicorn --factory ct_seg.api.main:create_app`` started as the tests start it,
   POST ``/v1/predict`` with the ``.nii.gz`` upload, a ``.nii.gz`` mask back; also the time
   from process start to the first 200 on ``/ready`` (as the environment is, then with a
   bytecode cache in the scratch folder, as an image built with ``UV_COMPILE_BYTECODE=1``
   would start: ``PYTHONDONTWRITEBYTECODE=1`` and a venv without ``.pyc`` files make every
   start compile each imported module again), and a soak at many clients;
3. ``mlflow models serve`` of the same registered version (PyTorch flavour), POST
   ``/invocations`` with the preprocessed volume as JSON: one forward pass over the whole
   volume, which is less work than our sliding window, so the comparison favours MLflow.

It also installs a serving-only environment (``uv sync --package ct-seg --no-dev``) and
reports its size and whether torch, MONAI and MLflow stayed out of it.

    uv run python benchmarks/serve_ct_seg.py [--seconds 20] [--soak-seconds 60]
        [--clients 4] [--soak-clients 32] [--starts 3] [--skip-mlflow]

Targets: our server >= 20x ``mlflow models serve``; >= 80% of raw ONNX Runtime; 0 errors at
32 clients; process start to ``/ready`` <= 3 s.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import nibabel as nib
import numpy as np
from numpy.typing import NDArray

from ct_seg.data.synthetic import PhantomSpec, generate_phantom_case
from ct_seg.settings import BINDING, PROJECT, CtSegSettings
from medai.io import Volume, read_nifti, write_nifti
from medai.segmentation.onnx_segmenter import OnnxSegmenter
from medai.segmentation.settings import InferenceSettings, PreprocessingSettings
from medai.serving import ModelBundle

HOST = "127.0.0.1"
API_KEY = "bench-key-" + "k" * 24
MAX_REQUESTS_PER_CLIENT = 100_000
HTTP_TIMEOUT_S = 180.0
READY_POLL_S = 0.02
READY_TIMEOUT_S = 60.0
MLFLOW_READY_TIMEOUT_S = 180.0
MLFLOW_POLL_S = 0.5
STOP_TIMEOUT_S = 15.0
VOLUME_EDGE = 64
SPACING_MM = 1.5
HEAVY_PACKAGES = ("torch", "monai", "mlflow")

TARGET_VS_MLFLOW = 20.0
TARGET_VS_RAW = 0.80
TARGET_READY_S = 3.0


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
        """Successful volumes per second of wall time."""
        return len(self.latencies) / self.wall_seconds if self.wall_seconds > 0 else 0.0

    def percentile_ms(self, q: float) -> float:
        """Latency percentile of the successful requests, in milliseconds (nan if none)."""
        if not self.latencies:
            return float("nan")
        return float(np.percentile(self.latencies, q)) * 1000

    def line(self) -> str:
        """One table row."""
        return (
            f"{self.name:<38} {self.clients:>7} {len(self.latencies):>6} "
            f"{self.throughput:>8.2f} {self.percentile_ms(50):>9.0f} "
            f"{self.percentile_ms(99):>9.0f} {self.errors:>6}"
        )


TABLE_HEADER = (
    f"{'contender':<38} {'clients':>7} {'done':>6} {'vol/s':>8} "
    f"{'p50 ms':>9} {'p99 ms':>9} {'errors':>6}"
)


def run_load(name: str, request: Callable[[int], None], clients: int, seconds: float) -> LoadResult:
    """Call ``request(client_index)`` in ``clients`` threads, each in a loop for ``seconds``.

    A request that raises counts as an error. Each loop stops at the deadline or after
    ``MAX_REQUESTS_PER_CLIENT`` requests; the wall time runs until the last one returned.
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


def report(result: LoadResult) -> LoadResult:
    """Print one result as soon as it is known."""
    print(TABLE_HEADER)
    print(result.line())
    if result.first_error:
        print(f"  first error: {result.first_error}")
    return result


# ----------------------------------------------------------------------------- setup


def train_and_materialize(root: Path) -> tuple[CtSegSettings, str, Path, float]:
    """Train 1 epoch of the development network in ``root``, register and materialize it.

    Returns:
        Settings, registered version, materialized model folder, training seconds.
    """
    from medai.segmentation.training import train  # noqa: PLC0415 - torch and MONAI: setup only
    from medai.serving.launch import materialize_model  # noqa: PLC0415 - imports MLflow

    overrides = [
        f"data.root={root / 'data'}",
        "data.synthetic.n_cases=4",
        "train.epochs=1",
        "train.val_every=1",
        f"tracking.uri=sqlite:///{root / 'mlflow.db'}",
        f"tracking.artifact_location={(root / 'mlruns').as_uri()}",
        f"evaluate.output_dir={root / 'evaluation'}",
    ]
    settings = BINDING.load(overrides, environ={})
    started = time.perf_counter()
    result = train(PROJECT, settings)
    seconds = time.perf_counter() - started
    model_dir = materialize_model(settings, BINDING.repo_root, root / "models", alias="challenger")
    return settings, result.model_version, model_dir, seconds


def write_test_volume(path: Path) -> Volume:
    """One synthetic 64^3 CT phantom at 1.5 mm as ``.nii.gz``; returns it decoded from disk."""
    spec = PhantomSpec(shape=(VOLUME_EDGE,) * 3, spacing=(SPACING_MM,) * 3, shape_jitter=0)
    case = generate_phantom_case(1000, seed=7, spec=spec)
    write_nifti(path, case.image, case.affine)
    return read_nifti(path)


def segmenter_for(model_dir: Path) -> OnnxSegmenter:
    """An ``OnnxSegmenter`` on the bundle's graph, with the card's settings as the server does."""
    bundle = ModelBundle.load(model_dir)
    prep = PreprocessingSettings.model_validate(bundle.card.extra["preprocessing"])
    inference = InferenceSettings.model_validate(bundle.card.extra["inference"])
    return OnnxSegmenter(bundle.onnx_path, prep, inference)


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


@contextmanager
def subprocess_running(
    argv: list[str], env: dict[str, str], log_path: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``argv`` with output to ``log_path``; terminate, wait and if need be kill it."""
    with log_path.open("ab") as log:
        process = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        stop(process)


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


def wait_for_200(
    url: str, process: subprocess.Popen[bytes], log_path: Path, timeout: float, poll: float
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


# ----------------------------------------------------------------------------- contenders


def bench_raw_ort(
    segmenter: OnnxSegmenter, volume: Volume, clients: int, seconds: float
) -> tuple[LoadResult, LoadResult, NDArray[np.uint8]]:
    """Single-thread latency and ``clients``-thread throughput of ``segmenter.segment``."""
    reference = segmenter.segment(volume)  # warm-up, and the mask the server must return
    segmenter.segment(volume)

    def request(_: int) -> None:
        segmenter.segment(volume)

    single = report(run_load("raw ONNX Runtime in-process", request, 1, seconds / 2))
    loaded = report(run_load("raw ONNX Runtime in-process", request, clients, seconds))
    return single, loaded, reference


def server_env(model_dir: Path, root: Path) -> dict[str, str]:
    """The environment the tests give the server: development, a key, the model folder."""
    env = {
        **os.environ,
        "MEDAI_ENV": "development",
        "MEDAI_API_KEYS": API_KEY,
        "MEDAI__API__MODEL_DIR": str(model_dir),
        "TMPDIR": str(root),
    }
    env.pop("MLFLOW_TRACKING_URI", None)
    return env


def server_argv(port: int, python: Path | None = None) -> list[str]:
    """The uvicorn command line on our app factory, exactly as the tests start it."""
    return [
        str(python or sys.executable),
        "-m",
        "uvicorn",
        "--factory",
        "ct_seg.api.main:create_app",
        "--host",
        HOST,
        "--port",
        str(port),
        "--no-access-log",
    ]


def decode_mask(body: bytes) -> NDArray[np.uint8]:
    """The mask in a ``/v1/predict`` response."""
    image = nib.Nifti1Image.from_bytes(gzip.decompress(body))
    return np.asarray(image.dataobj, dtype=np.uint8)


def predict_request(url: str, clients: list[httpx.Client], upload: bytes) -> Callable[[int], None]:
    """POST the upload to ``/v1/predict`` with client ``i``; raise unless 200 and a mask."""

    def request(index: int) -> None:
        response = clients[index].post(
            f"{url}/v1/predict",
            files={"file": ("volume.nii.gz", upload, "application/gzip")},
            headers={"X-API-Key": API_KEY},
        )
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code}: {response.text[:200]}")
        if not response.content:
            raise RuntimeError("HTTP 200 with an empty body")

    return request


@contextmanager
def http_clients(count: int) -> Iterator[list[httpx.Client]]:
    """``count`` keep-alive clients, one per load thread."""
    clients = [httpx.Client(timeout=HTTP_TIMEOUT_S, trust_env=False) for _ in range(count)]
    try:
        yield clients
    finally:
        for client in clients:
            client.close()


@dataclass(frozen=True)
class ServerResults:
    """Everything measured on our server."""

    ready_seconds: list[float]
    ready_cached_seconds: list[float]
    single: LoadResult
    loaded: LoadResult
    soak: LoadResult | None
    mismatched_voxels: int


def bytecode_state() -> str:
    """Whether this environment lets Python cache compiled bytecode, in a few words.

    Without ``.pyc`` files every server start compiles each imported module again, which
    a container image built with ``UV_COMPILE_BYTECODE=1`` never does.
    """
    import fastapi  # noqa: PLC0415 - only to find the venv's site-packages

    site_packages = Path(fastapi.__file__).parent.parent
    has_pyc = (site_packages / "fastapi" / "__pycache__").is_dir()
    writes = "off" if sys.flags.dont_write_bytecode else "on"
    return f"bytecode writing {writes}, venv {'has' if has_pyc else 'has no'} .pyc files"


def with_bytecode_cache(env: dict[str, str], root: Path) -> dict[str, str]:
    """``env`` with bytecode cached under ``root`` (never written into the venv)."""
    cached = {**env, "PYTHONPYCACHEPREFIX": str(root / "pycache")}
    cached.pop("PYTHONDONTWRITEBYTECODE", None)
    return cached


def time_starts(
    env: dict[str, str], count: int, log_path: Path, label: str, python: Path | None = None
) -> list[float]:
    """Start the server ``count`` times; seconds from ``Popen`` to the first 200 on /ready."""
    seconds: list[float] = []
    for attempt in range(1, count + 1):
        port = free_port()
        started = time.perf_counter()
        with subprocess_running(server_argv(port, python), env, log_path) as process:
            url = f"http://{HOST}:{port}/ready"
            wait_for_200(url, process, log_path, READY_TIMEOUT_S, READY_POLL_S)
            seconds.append(time.perf_counter() - started)
        print(f"{label} start {attempt}: process start to /ready {seconds[-1]:.2f} s")
    return seconds


def check_mask(url: str, client: httpx.Client, upload: bytes, reference: NDArray[np.uint8]) -> int:
    """Voxels where the server's mask differs from the in-process one (0 expected)."""
    response = client.post(
        f"{url}/v1/predict",
        files={"file": ("volume.nii.gz", upload, "application/gzip")},
        headers={"X-API-Key": API_KEY},
    )
    response.raise_for_status()
    mismatched = int(np.count_nonzero(decode_mask(response.content) != reference))
    print(f"server mask vs in-process mask: {mismatched} voxels differ")
    return mismatched


def bench_our_server(
    model_dir: Path,
    root: Path,
    upload: bytes,
    reference: NDArray[np.uint8],
    args: argparse.Namespace,
    *,
    serving_python: Path | None = None,
) -> ServerResults:
    """Start-to-ready (as is, then compiled), latency, throughput, the soak.

    "Compiled" is the serving-only venv synced with ``--compile-bytecode``, as a serving
    image is built, when it exists; otherwise this venv with a warmed bytecode cache.
    """
    log_path = root / "server.log"
    env = server_env(model_dir, root)
    print(f"environment: {bytecode_state()}")
    ready = time_starts(env, args.starts, log_path, "as is")
    if serving_python is not None:
        ready_cached = time_starts(
            env, args.starts, log_path, "serving venv, compiled bytecode", serving_python
        )
    else:
        cached_env = with_bytecode_cache(env, root)
        time_starts(cached_env, 1, log_path, "bytecode cache warm-up")
        ready_cached = time_starts(cached_env, args.starts, log_path, "bytecode cached")

    port = free_port()
    url = f"http://{HOST}:{port}"
    with subprocess_running(server_argv(port), env, log_path) as process:
        wait_for_200(f"{url}/ready", process, log_path, READY_TIMEOUT_S, READY_POLL_S)
        with http_clients(max(args.clients, args.soak_clients)) as clients:
            mismatched = check_mask(url, clients[0], upload, reference)
            request = predict_request(url, clients, upload)
            request(0)  # warm-up
            single = report(run_load("our server /v1/predict", request, 1, args.seconds / 2))
            loaded = report(run_load("our server /v1/predict", request, args.clients, args.seconds))
            soak = None
            if args.soak_seconds > 0:
                soak = report(
                    run_load(
                        "our server /v1/predict (soak)",
                        request,
                        args.soak_clients,
                        args.soak_seconds,
                    )
                )
        print(f"server still running after the load: {process.poll() is None}")
    return ServerResults(ready, ready_cached, single, loaded, soak, mismatched)


def mlflow_payload(image: NDArray[np.float32]) -> bytes:
    """``{"inputs": (1, 1, X, Y, Z)}`` JSON of the preprocessed volume.

    HU-windowed values are multiples of 1/500 (integer HU), so 4 decimals lose nothing
    and keep the body at a realistic size rather than 17 digits a value.
    """
    nested = np.round(image.astype(np.float64), 4)[np.newaxis, np.newaxis].tolist()
    return json.dumps({"inputs": nested}).encode()


def mlflow_argv(version: str, port: int) -> list[str]:
    """``mlflow models serve`` of the registered version in this environment."""
    mlflow = Path(sys.executable).parent / "mlflow"
    return [
        str(mlflow),
        "models",
        "serve",
        "-m",
        f"models:/ct-seg/{version}",
        "--env-manager",
        "local",
        "-p",
        str(port),
        "--host",
        HOST,
    ]


def bench_mlflow(
    settings: CtSegSettings,
    version: str,
    root: Path,
    *,
    payload: bytes,
    expected_argmax: NDArray[np.int64],
    args: argparse.Namespace,
) -> tuple[float, LoadResult]:
    """Time ``mlflow models serve`` to ``/ping``, check one answer, then load it."""
    scratch = root / "mlflow-tmp"
    scratch.mkdir(exist_ok=True)
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": str(settings.tracking.uri),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "TMPDIR": str(scratch),
    }
    port = free_port()
    url = f"http://{HOST}:{port}"
    log_path = root / "mlflow-serve.log"
    started = time.perf_counter()
    with subprocess_running(mlflow_argv(version, port), env, log_path) as process:
        wait_for_200(f"{url}/ping", process, log_path, MLFLOW_READY_TIMEOUT_S, MLFLOW_POLL_S)
        ready = time.perf_counter() - started
        print(f"mlflow models serve: process start to /ping {ready:.1f} s")
        headers = {"Content-Type": "application/json"}
        with http_clients(args.clients) as clients:
            first = clients[0].post(f"{url}/invocations", content=payload, headers=headers)
            first.raise_for_status()
            logits = np.asarray(first.json()["predictions"], dtype=np.float32)
            agreement = float(np.mean(logits.argmax(axis=1)[0] == expected_argmax))
            print(
                f"mlflow answer: logits {logits.shape}, argmax agrees with ONNX Runtime's "
                f"whole-volume forward on {agreement:.2%} of voxels"
            )

            def request(index: int) -> None:
                response = clients[index].post(
                    f"{url}/invocations", content=payload, headers=headers
                )
                if response.status_code != 200:
                    raise RuntimeError(f"HTTP {response.status_code}: {response.text[:200]}")

            loaded = report(
                run_load("mlflow models serve /invocations", request, args.clients, args.seconds)
            )
    return ready, loaded


# ----------------------------------------------------------------------------- footprint


@dataclass(frozen=True)
class Footprint:
    """The serving-only environment: its size and which heavy packages it holds."""

    megabytes: float
    seconds: float
    present: dict[str, bool]


def serving_venv_footprint(root: Path) -> Footprint:
    """``uv sync --locked --package ct-seg --no-dev`` into a fresh venv; its size and contents."""
    venv = root / "serving-venv"
    uv = shutil.which("uv")
    command = [uv] if uv else [sys.executable, "-m", "uv"]
    env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(venv)}
    env.pop("VIRTUAL_ENV", None)
    started = time.perf_counter()
    done = subprocess.run(
        [*command, "sync", "--locked", "--package", "ct-seg", "--no-dev", "--compile-bytecode"],
        cwd=BINDING.repo_root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"uv sync failed ({done.returncode}):\n{done.stderr[-2000:]}")
    du = subprocess.run(
        ["du", "-sb", str(venv)],  # noqa: S607 - coreutils, fixed argv
        capture_output=True,
        text=True,
        check=True,
    )
    size = int(du.stdout.split()[0])
    site_packages = sorted(venv.glob("lib/python3*/site-packages"))
    if not site_packages:
        raise RuntimeError(f"{venv}: no lib/python3*/site-packages")
    present = {name: (site_packages[0] / name).exists() for name in HEAVY_PACKAGES}
    present["onnxruntime"] = (site_packages[0] / "onnxruntime").exists()
    return Footprint(size / 1e6, seconds, present)


# ----------------------------------------------------------------------------- summary


def verdict(ok: bool) -> str:  # noqa: FBT001 - a yes/no printer
    """PASS or FAIL."""
    return "PASS" if ok else "FAIL"


def print_summary(
    raw: tuple[LoadResult, LoadResult],
    server: ServerResults | None,
    mlflow: tuple[float, LoadResult] | None,
    footprint: Footprint | None,
) -> None:
    """The final table and every ratio against its target."""
    print("\n=== summary ===")
    print(TABLE_HEADER)
    rows = [*raw]
    if server is not None:
        rows += [server.single, server.loaded] + ([server.soak] if server.soak else [])
    if mlflow is not None:
        rows.append(mlflow[1])
    for row in rows:
        print(row.line())
    print()
    raw_loaded = raw[1]
    if server is not None:
        share = server.loaded.throughput / raw_loaded.throughput
        print(
            f"our server vs raw ONNX Runtime ({server.loaded.clients} clients): {share:.1%} "
            f"(target >= {TARGET_VS_RAW:.0%})  {verdict(share >= TARGET_VS_RAW)}"
        )
        if mlflow is not None:
            ratio = server.loaded.throughput / max(mlflow[1].throughput, 1e-9)
            print(
                f"our server vs mlflow models serve ({mlflow[1].clients} clients): {ratio:.1f}x "
                f"(target >= {TARGET_VS_MLFLOW:.0f}x)  {verdict(ratio >= TARGET_VS_MLFLOW)}"
            )
        if server.soak is not None:
            print(
                f"{server.soak.clients} clients for {server.soak.wall_seconds:.0f} s: "
                f"{server.soak.errors} errors (target 0), p99 {server.soak.percentile_ms(99):.0f}"
                f" ms, {server.soak.throughput:.2f} vol/s  {verdict(server.soak.errors == 0)}"
            )
        for label, seconds in (
            ("as is", server.ready_seconds),
            ("compiled (serving venv)", server.ready_cached_seconds),
        ):
            worst = max(seconds)
            starts = ", ".join(f"{s:.2f}" for s in seconds)
            print(
                f"process start to /ready ({label}): median {statistics.median(seconds):.2f} s, "
                f"worst {worst:.2f} s ({starts}) (target <= {TARGET_READY_S:.0f} s)  "
                f"{verdict(worst <= TARGET_READY_S)}"
            )
        print(f"server mask vs in-process mask: {server.mismatched_voxels} voxels differ")
    if mlflow is not None:
        print(f"mlflow models serve: process start to /ping {mlflow[0]:.1f} s")
    if footprint is not None:
        absent = not any(footprint.present[name] for name in HEAVY_PACKAGES)
        listing = ", ".join(
            f"{name} {'present' if here else 'absent'}" for name, here in footprint.present.items()
        )
        print(
            f"serving-only venv (uv sync --package ct-seg --no-dev, {footprint.seconds:.0f} s): "
            f"{footprint.megabytes:.0f} MB; {listing}  "
            f"{verdict(absent and footprint.present['onnxruntime'])}"
        )


# ----------------------------------------------------------------------------- main


def phase(title: str) -> None:
    """A phase header with the load average: other work on this machine skews every figure."""
    one, five, _ = os.getloadavg()
    print(f"\n--- {title} --- (load average {one:.2f} over 1 min, {five:.2f} over 5 min)")


def parse_args() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="per throughput run")
    parser.add_argument("--soak-seconds", type=float, default=60.0, help="0 skips the soak")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--soak-clients", type=int, default=32)
    parser.add_argument("--starts", type=int, default=3, help="server starts timed to /ready")
    parser.add_argument("--skip-mlflow", action="store_true", help="skip mlflow models serve")
    parser.add_argument("--skip-venv", action="store_true", help="skip the serving venv size")
    return parser.parse_args()


def main() -> None:
    """Set up once, measure each contender alone, print the summary."""
    args = parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    with tempfile.TemporaryDirectory(prefix="serve-ct-seg-") as scratch:
        root = Path(scratch)
        # Anything reaching MLflow without explicit settings lands in the scratch store.
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'guard-mlflow.db'}"

        footprint = None
        if not args.skip_venv:
            print("installing the serving-only environment ...")
            footprint = serving_venv_footprint(root)
            print(f"serving venv: {footprint.megabytes:.0f} MB, {footprint.present}")

        print("training and registering a development model (1 epoch) ...")
        settings, version, model_dir, train_s = train_and_materialize(root)
        print(f"ct-seg version {version} trained in {train_s:.0f} s, materialized: {model_dir}")

        upload_path = root / "volume.nii.gz"
        volume = write_test_volume(upload_path)
        upload = upload_path.read_bytes()
        segmenter = segmenter_for(model_dir)
        model_input = segmenter.preprocess(volume)
        print(
            f"test volume {volume.shape} at {volume.spacing} mm, upload {len(upload) / 1e3:.0f}"
            f" kB; model grid {model_input.image.shape}, patch {segmenter.prep.patch_size}, "
            f"overlap {segmenter.inference.overlap}, sw_batch {segmenter.inference.sw_batch_size}"
        )

        phase("1. raw ONNX Runtime in-process")
        single, loaded, reference = bench_raw_ort(segmenter, volume, args.clients, args.seconds)
        whole: Any = segmenter.predict_windows(model_input.image[np.newaxis, np.newaxis])
        expected_argmax = np.asarray(whole[0].argmax(axis=0))

        phase("2. our server")
        serving_python = root / "serving-venv" / "bin" / "python" if footprint else None
        server = bench_our_server(
            model_dir, root, upload, reference, args, serving_python=serving_python
        )

        mlflow = None
        if not args.skip_mlflow:
            phase("3. mlflow models serve")
            payload = mlflow_payload(model_input.image)
            print(f"JSON body {len(payload) / 1e6:.1f} MB")
            mlflow = bench_mlflow(
                settings,
                version,
                root,
                payload=payload,
                expected_argmax=expected_argmax,
                args=args,
            )

        print_summary((single, loaded), server, mlflow, footprint)


if __name__ == "__main__":
    main()
