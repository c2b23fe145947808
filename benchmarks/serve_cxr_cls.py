"""Serving throughput of cxr-cls: our server against a raw ONNX Runtime session, side by side.

One run registers a production-size cxr-cls model (``production.yaml``: a DenseNet-121-
sized network at 320 px, trained for one epoch on a few synthetic radiographs: the
weights do not change the speed) in a throwaway MLflow store, never the user's; materializes it as
``invoke serve`` does; renders one synthetic 512 x 512 chest radiograph as a PNG; and
measures, one at a time on this machine:

1. a raw ONNX Runtime session in-process (the limit): ``session.run`` on the prepared
   input tensor, i.e. the network's work alone, from 4 client threads;
2. our server: ``uvicorn --factory cxr_cls.api.main:create_app`` (ONNX backend, with
   ``invoke serve``'s protocol), POST ``/v1/predict`` with the PNG, JSON back: HTTP,
   multipart, PNG decode, resize, the same network, JSON; from 4 clients, in turns
   interleaved with the raw session's (``--rounds``), then 32 clients for ``--soak-seconds``.

    uv run python benchmarks/serve_cxr_cls.py [--seconds 20] [--soak-seconds 60] [--quick]

Targets: our server >= 80% of the raw session's images/s at 4 clients; 0 errors at 32
clients (p99 printed). The server's probabilities are checked against the in-process ones.
"""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
import onnxruntime as ort
from PIL import Image
from serving_harness import (
    Registered,
    http_clients,
    load_average,
    phase,
    post_predict,
    predict_request,
    register_and_materialize,
    report,
    run_interleaved,
    run_load,
    scratch_root,
    server_env,
    serving,
    share_line,
    table_header,
    verdict,
)

from cxr_cls.data.synthetic import render_image
from cxr_cls.settings import BINDING, PROJECT, CxrClsSettings
from medai.classification.onnx_classifier import INPUT_NAME, OUTPUT_NAMES, OnnxClassifier
from medai.classification.preprocessing import to_model_input
from medai.io import read_radiograph
from medai.serving import ModelBundle

APP_FACTORY = "cxr_cls.api.main:create_app"
IMAGE_EDGE = 512
TARGET_VS_RAW = 0.80
UNIT = "images/s"
RAW = "raw ONNX Runtime session.run"
SERVED = "our server POST /v1/predict"


def register_production_model(root: Path) -> Registered[CxrClsSettings]:
    """Train the production network one epoch on a few synthetic images; materialize it."""
    from medai.classification.training_run import train  # noqa: PLC0415 - torch: setup only

    overrides = [
        "data.allow_synthetic=true",
        "data.synthetic.n_patients=6",
        "data.synthetic.size=320",
        "train.epochs=1",
        "train.batch_size=8",
    ]
    return register_and_materialize(
        BINDING, lambda s: train(PROJECT, s), root, overrides, {"MEDAI_ENV": "production"}
    )


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


def _has_probabilities(response: httpx.Response) -> None:
    if "probabilities" not in response.json():
        raise RuntimeError(f"HTTP 200 without probabilities: {response.text[:200]}")


def main() -> None:
    """Set up once, measure each contender alone, print the verdicts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="per throughput run")
    parser.add_argument("--soak-seconds", type=float, default=60.0, help="32 clients this long")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--soak-clients", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=4, help="turns raw and server alternate")
    parser.add_argument("--quick", action="store_true", help="8 s runs and a 20 s soak")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.soak_seconds = 8.0, 20.0
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]

    with scratch_root("serve-cxr-cls-") as root:
        print("registering a production-size model (1 epoch on synthetic images) ...")
        registered = register_production_model(root)
        print(
            f"cxr-cls version {registered.version} in {registered.train_seconds:.0f} s, "
            f"materialized: {registered.model_dir}"
        )
        png = test_png()
        raw, expected = raw_session(registered.model_dir, png)
        raw(0)  # warm-up

        phase(f"raw ONNX Runtime session and our server, {args.rounds} interleaved turns each")
        files = {"file": ("image.png", png, "image/png")}
        env = server_env(registered.model_dir, root)
        with (
            serving(APP_FACTORY, env, root / "server.log") as server,
            http_clients(max(args.clients, args.soak_clients)) as clients,
        ):
            answer = post_predict(clients[0], server.url, files).json()["probabilities"]
            worst = max(abs(answer[k] - expected[k]) for k in expected)
            print(f"server vs in-process probabilities: max difference {worst:.2e}")
            post = predict_request(server.url, clients, files, _has_probabilities)
            post(0)  # warm-up
            loads = run_interleaved(
                {RAW: raw, SERVED: post}, args.clients, args.seconds, args.rounds
            )
            for load in loads.values():
                report(load, UNIT)
            phase(f"our server, {args.soak_clients} clients")
            soak = report(
                run_load("our server, soak", post, args.soak_clients, args.soak_seconds), UNIT
            )
            alive = server.alive

    print(f"\n=== summary ({load_average()}) ===\n{table_header(UNIT)}")
    for load in (*loads.values(), soak):
        print(load.line())
    print(share_line("our server", loads[SERVED], loads[RAW], TARGET_VS_RAW))
    print(
        f"{args.soak_clients} clients for {soak.wall_seconds:.0f} s: {soak.errors} errors "
        f"(target 0), p99 {soak.percentile_ms(99):.0f} ms, {soak.throughput:.1f} images/s, "
        f"server alive after: {alive}  {verdict(soak.errors == 0 and alive)}"
    )
    print(f"probabilities: server vs in-process max difference {worst:.2e}")


if __name__ == "__main__":
    main()
