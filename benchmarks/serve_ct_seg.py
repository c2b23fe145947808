"""Serving throughput of ct-seg: our server against raw ONNX Runtime and ``mlflow models serve``.

One run trains and registers a development-size ct-seg model in a throwaway MLflow store
(never the user's), materializes it as ``invoke serve`` does, and sends the very same
synthetic 64^3 CT volume (1.5 mm, so no resampling) to three contenders:

1. raw ONNX Runtime in-process (the limit): ``OnnxSegmenter.segment`` on the already decoded
   volume, i.e. the server's sliding-window model work without HTTP, gzip or NIfTI coding;
2. our server: ``uvicorn --factory ct_seg.api.main:create_app`` with ``invoke serve``'s protocol,
   POST ``/v1/predict`` with the ``.nii.gz`` upload, a ``.nii.gz`` mask back; also the time
   from process start to the first 200 on ``/ready`` (as the environment is, then with a
   bytecode cache in the scratch folder, as an image built with ``UV_COMPILE_BYTECODE=1``
   would start: ``PYTHONDONTWRITEBYTECODE=1`` and a venv without ``.pyc`` files make every
   start compile each imported module again), and a soak at many clients. The raw
   session and the server take turns (``--rounds``, in alternating order), so load from
   elsewhere on a shared machine weighs on both alike;
3. ``mlflow models serve`` of the same registered version (PyTorch flavour), POST
   ``/invocations`` with the preprocessed volume as JSON: one forward pass over the whole
   volume, which is less work than our sliding window, so the comparison favours MLflow.

It also installs a serving-only environment (``uv sync --package ct-seg --no-dev``) and
reports its size and whether torch, MONAI and MLflow stayed out of it.

    uv run python benchmarks/serve_ct_seg.py [--seconds 20] [--soak-seconds 60]
        [--clients 4] [--soak-clients 32] [--rounds 4] [--starts 3] [--skip-mlflow]
        [--skip-venv]

Targets: our server >= 20x ``mlflow models serve``; >= 80% of raw ONNX Runtime; 0 errors at
32 clients; process start to ``/ready`` <= 3 s.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from serving_harness import (
    HOST,
    NIFTI_GZ,
    READY_POLL_S,
    READY_TIMEOUT_S,
    LoadResult,
    Registered,
    check_mask,
    free_port,
    http_clients,
    phase,
    post_predict,
    predict_request,
    register_and_materialize,
    report,
    run_interleaved,
    run_load,
    scratch_root,
    server_argv,
    server_env,
    serving,
    share_line,
    subprocess_running,
    table_header,
    verdict,
    wait_for_200,
)

from ct_seg.data.synthetic import PhantomSpec, generate_phantom_case
from ct_seg.settings import BINDING, PROJECT, CtSegSettings
from medai.io import Volume, read_nifti, write_nifti
from medai.segmentation.onnx_segmenter import OnnxSegmenter
from medai.segmentation.settings import InferenceSettings, PreprocessingSettings
from medai.serving import ModelBundle

APP_FACTORY = "ct_seg.api.main:create_app"
RAW = "raw ONNX Runtime in-process"
SERVED = "our server /v1/predict"
MLFLOW_READY_TIMEOUT_S = 180.0
MLFLOW_POLL_S = 0.5
VOLUME_EDGE = 64
SPACING_MM = 1.5
HEAVY_PACKAGES = ("torch", "monai", "mlflow")

TARGET_VS_MLFLOW = 20.0
TARGET_VS_RAW = 0.80
TARGET_READY_S = 3.0


# ----------------------------------------------------------------------------- setup


def train_and_materialize(root: Path) -> Registered[CtSegSettings]:
    """Train 1 epoch of the development network in ``root``, register and materialize it."""
    from medai.segmentation.training import train  # noqa: PLC0415 - torch and MONAI: setup only

    overrides = [
        "data.synthetic.n_cases=4",
        "train.epochs=1",
        "train.val_every=1",
        f"evaluate.output_dir={root / 'evaluation'}",
    ]
    return register_and_materialize(BINDING, lambda s: train(PROJECT, s), root, overrides)


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


# ----------------------------------------------------------------------------- contenders


@dataclass(frozen=True)
class ServerResults:
    """Everything measured on our server, and the raw session in turns alternating with it."""

    ready_seconds: list[float]
    ready_cached_seconds: list[float]
    raw_single: LoadResult
    raw_loaded: LoadResult
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
        with subprocess_running(server_argv(APP_FACTORY, port, python), env, log_path) as process:
            url = f"http://{HOST}:{port}/ready"
            wait_for_200(url, process, log_path, READY_TIMEOUT_S, READY_POLL_S)
            seconds.append(time.perf_counter() - started)
        print(f"{label} start {attempt}: process start to /ready {seconds[-1]:.2f} s")
    return seconds


def bench_our_server(
    model_dir: Path,
    root: Path,
    upload: bytes,
    reference: NDArray[np.uint8],
    args: argparse.Namespace,
    *,
    raw: Callable[[int], None],
    serving_python: Path | None = None,
) -> ServerResults:
    """Start-to-ready (as is, then compiled), latency and throughput beside ``raw``, the soak.

    "Compiled" is the serving-only venv synced with ``--compile-bytecode``, as a serving
    image is built, when it exists; otherwise this venv with a warmed bytecode cache.
    The raw session and the server take turns (``args.rounds``), so load from elsewhere
    on the machine weighs on both alike.
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

    files = {"file": ("volume.nii.gz", upload, NIFTI_GZ)}
    with (
        serving(APP_FACTORY, env, log_path) as server,
        http_clients(max(args.clients, args.soak_clients)) as clients,
    ):
        mismatched = check_mask("upload", post_predict(clients[0], server.url, files), reference)
        request = predict_request(server.url, clients, files)
        request(0)  # warm-up
        contenders = {RAW: raw, SERVED: request}
        single = run_interleaved(contenders, 1, args.seconds / 2, args.rounds)
        loaded = run_interleaved(contenders, args.clients, args.seconds, args.rounds)
        for result in (*single.values(), *loaded.values()):
            report(result)
        soak = None
        if args.soak_seconds > 0:
            soak = report(
                run_load(f"{SERVED} (soak)", request, args.soak_clients, args.soak_seconds)
            )
        print(f"server still running after the load: {server.alive}")
    return ServerResults(
        ready,
        ready_cached,
        single[RAW],
        loaded[RAW],
        single[SERVED],
        loaded[SERVED],
        soak,
        mismatched,
    )


def mlflow_payload(image: NDArray[np.float32]) -> bytes:
    """``{"inputs": (1, 1, X, Y, Z)}`` JSON of the preprocessed ``(1, X, Y, Z)`` volume.

    HU-windowed values are multiples of 1/500 (integer HU), so 4 decimals lose nothing
    and keep the body at a realistic size rather than 17 digits a value.
    """
    nested = np.round(image.astype(np.float64), 4)[np.newaxis].tolist()
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


def print_summary(
    server: ServerResults,
    mlflow: tuple[float, LoadResult] | None,
    footprint: Footprint | None,
) -> None:
    """The final table and every ratio against its target."""
    print("\n=== summary ===")
    print(table_header())
    rows = [server.raw_single, server.single, server.raw_loaded, server.loaded]
    rows += [server.soak] if server.soak else []
    if mlflow is not None:
        rows.append(mlflow[1])
    for row in rows:
        print(row.line())
    print()
    print(share_line("our server", server.loaded, server.raw_loaded, TARGET_VS_RAW))
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


def parse_args() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="per throughput run")
    parser.add_argument("--soak-seconds", type=float, default=60.0, help="0 skips the soak")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--soak-clients", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=4, help="turns raw and server alternate")
    parser.add_argument("--starts", type=int, default=3, help="server starts timed to /ready")
    parser.add_argument("--skip-mlflow", action="store_true", help="skip mlflow models serve")
    parser.add_argument("--skip-venv", action="store_true", help="skip the serving venv size")
    return parser.parse_args()


def main() -> None:
    """Set up once, measure each contender alone, print the summary."""
    args = parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    with scratch_root("serve-ct-seg-") as root:
        footprint = None
        if not args.skip_venv:
            print("installing the serving-only environment ...")
            footprint = serving_venv_footprint(root)
            print(f"serving venv: {footprint.megabytes:.0f} MB, {footprint.present}")

        print("training and registering a development model (1 epoch) ...")
        registered = train_and_materialize(root)
        print(
            f"ct-seg version {registered.version} trained in {registered.train_seconds:.0f} s, "
            f"materialized: {registered.model_dir}"
        )

        upload_path = root / "volume.nii.gz"
        volume = write_test_volume(upload_path)
        upload = upload_path.read_bytes()
        segmenter = segmenter_for(registered.model_dir)
        model_input = segmenter.preprocess(volume)
        print(
            f"test volume {volume.shape} at {volume.spacing} mm, upload {len(upload) / 1e3:.0f}"
            f" kB; model grid {model_input.image.shape}, patch {segmenter.prep.patch_size}, "
            f"overlap {segmenter.inference.overlap}, sw_batch {segmenter.inference.sw_batch_size}"
        )

        reference = segmenter.segment(volume)  # warm-up, and the mask the server must return

        def raw(_: int) -> None:
            segmenter.segment(volume)

        phase(f"1. our server, and raw ONNX Runtime in-process in {args.rounds} turns each")
        serving_python = root / "serving-venv" / "bin" / "python" if footprint else None
        server = bench_our_server(
            registered.model_dir,
            root,
            upload,
            reference,
            args,
            raw=raw,
            serving_python=serving_python,
        )

        mlflow = None
        if not args.skip_mlflow:
            phase("2. mlflow models serve")
            payload = mlflow_payload(model_input.image)
            print(f"JSON body {len(payload) / 1e6:.1f} MB")
            whole: Any = segmenter.predict_windows(model_input.image[np.newaxis])
            expected_argmax = np.asarray(whole[0].argmax(axis=0))
            mlflow = bench_mlflow(
                registered.settings,
                registered.version,
                root,
                payload=payload,
                expected_argmax=expected_argmax,
                args=args,
            )

        print_summary(server, mlflow, footprint)


if __name__ == "__main__":
    main()
