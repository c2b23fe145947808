"""The benchmarks start as documented, and the serving benchmarks' harness measures honestly.

The benchmarks are run by hand (minutes each), so nothing else notices when one stops
importing: each is started here with ``--help`` exactly as the docs run it, from the repo
root, where ``benchmarks/`` is first on ``sys.path`` for the sibling ``serving_harness``.
The engine benchmark's refusal of a precision the machine cannot honour runs for real, as
do the harness's load loop, turn order, mask check and scratch store.
"""

from __future__ import annotations

import gzip
import importlib.util
import os
import subprocess
import sys
import time
from itertools import groupby
from pathlib import Path
from types import ModuleType

import httpx
import nibabel as nib
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
SERVING_BENCHMARKS = sorted(BENCHMARKS.glob("serve_*.py"))


@pytest.fixture(scope="module")
def harness() -> ModuleType:
    """``benchmarks/serving_harness.py``, loaded from its file (benchmarks are no package)."""
    name = "bench_serving_harness"
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / "serving_harness.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[name]


def test_every_project_has_a_serving_benchmark() -> None:
    assert {path.stem for path in SERVING_BENCHMARKS} >= {
        "serve_ct_seg",
        "serve_cxr_cls",
        "serve_brain_mri",
    }


@pytest.mark.parametrize("script", SERVING_BENCHMARKS, ids=lambda path: path.stem)
def test_a_serving_benchmark_starts_as_the_docs_run_it(script: Path) -> None:
    """``uv run python benchmarks/<name>.py``: imports resolve, the options parse."""
    done = subprocess.run(
        [sys.executable, str(script.relative_to(ROOT)), "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "--seconds" in done.stdout


def _engine_benchmark(*options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "benchmarks/engine_train_step.py", *options],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_the_engine_benchmark_starts_as_the_docs_run_it() -> None:
    """Every kind's training imports resolve without a run; the device options parse."""
    done = _engine_benchmark("--help")

    assert done.returncode == 0, done.stderr[-2000:]
    assert "--device {cpu,cuda}" in done.stdout
    assert "--precision {32,bf16-mixed,16-mixed}" in done.stdout


def test_the_engine_benchmark_refuses_float16_on_a_cpu_in_one_line() -> None:
    """As ``train.precision=16-mixed`` does on a CPU, before any data is generated."""
    done = _engine_benchmark("--device", "cpu", "--precision", "16-mixed")

    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "error: --precision 16-mixed: 16-mixed needs a CUDA device; training runs on cpu"
    ]


def test_run_load_counts_a_raising_request_as_an_error_not_a_latency(harness) -> None:
    calls = []

    def request(index: int) -> None:
        calls.append(index)
        time.sleep(0.005)
        if len(calls) % 2 == 0:
            raise RuntimeError("HTTP 503: busy")

    result = harness.run_load("flaky", request, 2, 0.2)

    assert result.errors + len(result.latencies) == len(calls)
    assert result.errors >= 1
    assert abs(result.errors - len(result.latencies)) <= 2  # every other call failed
    assert result.first_error == "RuntimeError: HTTP 503: busy"
    assert result.wall_seconds >= 0.2
    assert result.throughput == pytest.approx(len(result.latencies) / result.wall_seconds)


def test_interleaved_turns_alternate_their_order_and_add_up(harness) -> None:
    """A B, B A, A B: the same contender runs at a turn's boundary, each gets its time."""
    order = []

    def contender(name: str):
        def request(_: int) -> None:
            order.append(name)
            time.sleep(0.005)

        return request

    results = harness.run_interleaved(
        {"a": contender("a"), "b": contender("b")}, clients=1, seconds=0.3, rounds=3
    )

    assert [name for name, _ in groupby(order)] == ["a", "b", "a", "b"]
    assert set(results) == {"a", "b"}
    for name, result in results.items():
        assert result.name == name
        assert result.wall_seconds >= 0.3
        assert len(result.latencies) == order.count(name)


def _nifti_response(mask: np.ndarray) -> httpx.Response:
    body = gzip.compress(nib.Nifti1Image(mask, np.eye(4)).to_bytes())
    return httpx.Response(200, content=body, request=httpx.Request("POST", "http://x/v1/predict"))


def test_check_mask_counts_the_voxels_that_differ(harness) -> None:
    reference = np.zeros((4, 5, 6), np.uint8)
    served = reference.copy()
    served[0, 0, :3] = 2

    assert harness.check_mask("4D", _nifti_response(reference), reference) == 0
    assert harness.check_mask("4D", _nifti_response(served), reference) == 3


def test_check_mask_counts_a_mask_of_another_shape_as_all_wrong(harness) -> None:
    reference = np.zeros((4, 5, 6), np.uint8)

    assert harness.check_mask("parts", _nifti_response(reference[:3]), reference) == 120


def test_check_mask_refuses_an_error_response(harness) -> None:
    response = httpx.Response(
        422, json={"code": "invalid_channels"}, request=httpx.Request("POST", "http://x/")
    )

    with pytest.raises(httpx.HTTPStatusError):
        harness.check_mask("parts", response, np.zeros((2, 2, 2), np.uint8))


def test_scratch_root_keeps_mlflow_inside_and_leaves_nothing(harness, monkeypatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///users-own.db")

    with harness.scratch_root("bench-test-") as root:
        inside = os.environ["MLFLOW_TRACKING_URI"]
        assert inside.startswith("sqlite:///")
        assert Path(inside.removeprefix("sqlite:///")).parent == root

    assert not root.exists()
    assert os.environ["MLFLOW_TRACKING_URI"] == "sqlite:///users-own.db"


def test_the_memory_benchmark_starts_as_the_docs_run_it() -> None:
    """``uv run python benchmarks/train_memory.py``: imports resolve, the options parse."""
    done = subprocess.run(
        [sys.executable, "benchmarks/train_memory.py", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "--factors" in done.stdout
    assert "--cache {none,disk}" in done.stdout
