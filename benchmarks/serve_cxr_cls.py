"""Serving throughput of cxr-cls: our server against a raw ONNX Runtime session, side by side.

One run registers a production-size cxr-cls model (``production.yaml``: a DenseNet-121-
sized network at 320 px, trained for one epoch on a few synthetic radiographs: the
weights do not change the speed) in a throwaway MLflow store, never the user's; materializes it as
``invoke serve`` does; renders one synthetic 512 x 512 chest radiograph as a PNG; and
measures, one at a time on this machine:

1. a raw ONNX Runtime session in-process (the limit): ``session.run`` on the prepared
   input tensor, i.e. the network's work alone, from 4 client threads;
2. our server: ``uvicorn --factory cxr_cls.api.main:create_app`` (ONNX backend), POST
   ``/v1/predict`` with the PNG, JSON back: HTTP, multipart, PNG decode, resize, the
   same network, JSON; from 4 clients, then 32 clients for ``--soak-seconds``.

    uv run python benchmarks/serve_cxr_cls.py [--seconds 20] [--soak-seconds 60] [--quick]

Targets: our server >= 80% of the raw session's images/s at 4 clients; 0 errors at 32
clients (p99 printed). The server's probabilities are checked against the in-process ones.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import onnxruntime as ort
from PIL import Image

from cxr_cls.data.synthetic import render_image
from cxr_cls.settings import BINDING, PROJECT
from medai.classification.onnx_classifier import INPUT_NAME, OUTPUT_NAMES, OnnxClassifier
from medai.classification.preprocessing import to_model_input
from medai.classification.testing import ServerProcess, server_environment
from medai.io import read_radiograph
from medai.serving import ModelBundle

API_KEY = "bench-key-" + "c" * 24
IMAGE_EDGE = 512
TARGET_VS_RAW = 0.80
HTTP_TIMEOUT_S = 120.0


@dataclass
class Load:
    """What one fixed-duration run measured: latencies of successes, and failures."""

    name: str
    clients: int
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """Successful images per second of wall time."""
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def ms(self, percentile: float) -> float:
        """A latency percentile in milliseconds (nan without successes)."""
        return float(np.percentile(self.latencies, percentile)) * 1e3 if self.latencies else np.nan

    def row(self) -> str:
        """One line of the results table."""
        return (
            f"{self.name:<34}{self.clients:>8}{len(self.latencies):>7}{self.rate:>10.1f}"
            f"{self.ms(50):>9.1f}{self.ms(99):>9.1f}{len(self.failures):>8}"
        )


COLUMNS = (("contender", 34), ("clients", 8), ("done", 7), ("images/s", 10), ("p50 ms", 9))
HEADER = "".join(
    f"{name:<{w}}" if i == 0 else f"{name:>{w}}" for i, (name, w) in enumerate(COLUMNS)
)
HEADER += f"{'p99 ms':>9}{'errors':>8}"


def hammer(name: str, work: Callable[[int], None], clients: int, seconds: float) -> Load:
    """Run ``work(client)`` in a loop on ``clients`` threads until ``seconds`` have passed."""
    load = Load(name, clients)
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds

    def client(index: int) -> None:
        while time.perf_counter() < stop_at:
            began = time.perf_counter()
            try:
                work(index)
            except Exception as exc:  # noqa: BLE001 - every failure is counted
                with lock:
                    load.failures.append(f"{type(exc).__name__}: {exc}"[:300])
                continue
            with lock:
                load.latencies.append(time.perf_counter() - began)

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    load.seconds = time.perf_counter() - started
    print(load.row() + (f"   first error: {load.failures[0]}" if load.failures else ""))
    return load


def register_production_model(root: Path) -> tuple[str, Path, float]:
    """Train the production network one epoch on a few synthetic images; materialize it."""
    from medai.classification.training_run import train  # noqa: PLC0415 - torch: setup only
    from medai.serving.launch import materialize_model  # noqa: PLC0415 - MLflow

    overrides = [
        f"data.root={root / 'data'}",
        "data.allow_synthetic=true",
        "data.synthetic.n_patients=6",
        "data.synthetic.size=320",
        "train.epochs=1",
        "train.batch_size=8",
        f"tracking.uri=sqlite:///{root / 'mlflow.db'}",
        f"tracking.artifact_location={(root / 'mlruns').as_uri()}",
    ]
    settings = BINDING.load(overrides, environ={"MEDAI_ENV": "production"})
    started = time.perf_counter()
    result = train(PROJECT, settings)
    seconds = time.perf_counter() - started
    model_dir = materialize_model(settings, BINDING.repo_root, root / "models", alias="challenger")
    return result.model_version, model_dir, seconds


def test_png() -> bytes:
    """One synthetic 512 x 512 radiograph as an 8-bit PNG, as a hospital export would be."""
    pixels = render_image(3, 0, seed=11, size=IMAGE_EDGE).pixels
    buffer = io.BytesIO()
    Image.fromarray(np.rint(pixels * 255).astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def raw_session(model_dir: Path, png: bytes) -> tuple[Callable[[int], None], dict[str, float]]:
    """``session.run`` on the prepared tensor, and the probabilities the server must match."""
    bundle = ModelBundle.load(model_dir)
    size = int(bundle.card.extra["preprocessing"]["image_size"])
    labels = [bundle.card.extra["labels"][k] for k in sorted(bundle.card.extra["labels"], key=int)]
    pixels = read_radiograph(png).pixels
    expected = OnnxClassifier(bundle.onnx_path, size, labels).predict(pixels).probabilities
    session = ort.InferenceSession(str(bundle.onnx_path), providers=["CPUExecutionProvider"])
    tensor = to_model_input(pixels, size)
    print(f"model input {tensor.shape}, PNG {len(png) / 1e3:.0f} kB, graph {bundle.onnx_path}")

    def run(_: int) -> None:
        session.run(list(OUTPUT_NAMES), {INPUT_NAME: tensor})

    return run, expected


def server_requests(url: str, png: bytes, clients: int) -> tuple[Callable[[int], None], list]:
    """POST the PNG with one keep-alive client per thread; raise unless 200 with probabilities."""
    sessions = [httpx.Client(timeout=HTTP_TIMEOUT_S, trust_env=False) for _ in range(clients)]

    def post(index: int) -> None:
        response = sessions[index].post(
            f"{url}/v1/predict",
            files={"file": ("image.png", png, "image/png")},
            headers={"X-API-Key": API_KEY},
        )
        if response.status_code != 200 or "probabilities" not in response.json():
            raise RuntimeError(f"HTTP {response.status_code}: {response.text[:200]}")

    return post, sessions


def load_average() -> str:
    """Other work on this machine skews every figure; say how much there was."""
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min)"


def main() -> None:
    """Set up once, measure each contender alone, print the verdicts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="per throughput run")
    parser.add_argument("--soak-seconds", type=float, default=60.0, help="32 clients this long")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--soak-clients", type=int, default=32)
    parser.add_argument("--quick", action="store_true", help="8 s runs and a 20 s soak")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.soak_seconds = 8.0, 20.0
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]

    with tempfile.TemporaryDirectory(prefix="serve-cxr-cls-") as scratch:
        root = Path(scratch)
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'guard-mlflow.db'}"
        print("registering a production-size model (1 epoch on synthetic images) ...")
        version, model_dir, train_s = register_production_model(root)
        print(f"cxr-cls version {version} in {train_s:.0f} s, materialized: {model_dir}")
        png = test_png()
        raw, expected = raw_session(model_dir, png)

        print(f"\n--- 1. raw ONNX Runtime session --- ({load_average()})\n{HEADER}")
        raw(0)  # warm-up
        raw_load = hammer("raw ONNX Runtime session.run", raw, args.clients, args.seconds)

        print(f"\n--- 2. our server --- ({load_average()})")
        env = server_environment(model_dir, api_key=API_KEY)
        server = ServerProcess.start(
            "cxr_cls.api.main:create_app", env=env, log_path=root / "server.log"
        )
        try:
            post, sessions = server_requests(server.url, png, max(args.clients, args.soak_clients))
            answer = (
                sessions[0]
                .post(
                    f"{server.url}/v1/predict",
                    files={"file": ("image.png", png)},
                    headers={"X-API-Key": API_KEY},
                )
                .json()["probabilities"]
            )
            worst = max(abs(answer[k] - expected[k]) for k in expected)
            print(f"server vs in-process probabilities: max difference {worst:.2e}\n{HEADER}")
            served = hammer("our server POST /v1/predict", post, args.clients, args.seconds)
            soak = hammer("our server, soak", post, args.soak_clients, args.soak_seconds)
            alive = server.alive
            for session in sessions:
                session.close()
        finally:
            server.stop()

    share = served.rate / raw_load.rate
    print(f"\n=== summary ({load_average()}) ===\n{HEADER}")
    for load in (raw_load, served, soak):
        print(load.row())
    print(
        f"our server vs raw session ({args.clients} clients): {share:.1%} of "
        f"{raw_load.rate:.1f} images/s (target >= {TARGET_VS_RAW:.0%})  "
        f"{'PASS' if share >= TARGET_VS_RAW else 'FAIL'}"
    )
    print(
        f"{args.soak_clients} clients for {soak.seconds:.0f} s: {len(soak.failures)} errors "
        f"(target 0), p99 {soak.ms(99):.0f} ms, {soak.rate:.1f} images/s, server alive after: "
        f"{alive}  {'PASS' if not soak.failures and alive else 'FAIL'}"
    )
    print(f"probabilities: server vs in-process max difference {worst:.2e}")


if __name__ == "__main__":
    main()
