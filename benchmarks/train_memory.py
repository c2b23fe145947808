"""Peak memory of cxr-cls's development training with 1x and 4x the synthetic radiographs.

The classification kind reads each image when an epoch needs it
(``medai.classification.prepared``) instead of holding the dataset as arrays, so four
times the images should cost next to no memory. Each training runs as the user starts
it (``projects/cxr-cls/scripts/train.py``, the development config, a real MLflow run
and registration), in a fresh process per size; its peak resident set size is the
kernel's ``ru_maxrss`` of that process, read with ``os.wait4``. The data is generated
before, outside the measured process, and everything the runs write (data, MLflow
store, checkpoints, the disk cache) goes to a temporary folder that is removed after,
so the benchmark leaves no runs behind and needs no MLflow server.

Most of a training's memory is its imports (torch, Lightning, MLflow); the same command
line is therefore also measured up to the point where training would start
(``--set train.epochs=...`` cannot be 0, so: a process importing what ``train``
imports), and the growth above that baseline is printed too: that is the part that
would grow with the dataset.

    uv run python benchmarks/train_memory.py [--factors 1 4] [--epochs 2]
        [--cache {none,disk}] [--patients N]

Target: peak RSS at 4x / peak RSS at 1x <= 1.25.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRAIN_SCRIPT = ROOT / "projects" / "cxr-cls" / "scripts" / "train.py"
TARGET = 1.25
_BASELINE = "import cxr_cls.cli, medai.classification.training_run, medai.classification.training"


@dataclass(frozen=True)
class Measured:
    """One process: its peak RSS and how long it ran."""

    peak_mib: float
    seconds: float


def environment(scratch: Path) -> dict[str, str]:
    """The development environment, with nothing pointing at the user's store or folders."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MEDAI__", "MLFLOW_"))
    }
    env["MEDAI_ENV"] = "development"
    env["MEDAI_CHECKPOINT_DIR"] = str(scratch / "checkpoints")
    return env


def overrides(scratch: Path, patients: int, epochs: int, cache: str) -> list[str]:
    """The ``--set`` values of one run: its data size, epochs, cache and a scratch store.

    ``none`` is the default and is left unsaid, so the same command line also runs an
    older checkout that has no ``train.cache`` (a before/after comparison).
    """
    values = [
        f"data.root={scratch / 'data'}",
        f"data.synthetic.n_patients={patients}",
        f"train.epochs={epochs}",
        f"tracking.uri=sqlite:///{scratch / 'mlflow.db'}",
        f"tracking.artifact_location={(scratch / 'mlruns').as_uri()}",
    ]
    if cache != "none":
        values += [f"train.cache={cache}", f"train.cache_dir={scratch / 'cache'}"]
    return values


def generate(settings_overrides: list[str], env: dict[str, str]) -> int:
    """Write the synthetic radiographs (in this process, not the measured one); their count."""
    import cxr_cls.settings as cxr_cls_settings  # noqa: PLC0415 - after the argument check

    settings = cxr_cls_settings.BINDING.load(settings_overrides, environ=env)
    return len(cxr_cls_settings.PROJECT.load_data(settings).items)


def measure(command: list[str], env: dict[str, str]) -> Measured:
    """Run ``command`` to its end; its peak RSS (``ru_maxrss``, KiB on Linux) and duration.

    Raises:
        SystemExit: the command failed (its output is shown).
    """
    started = time.perf_counter()
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = process.stdout.read() if process.stdout is not None else ""
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        sys.stderr.write(output[-4000:])
        raise SystemExit(f"error: {' '.join(command[1:3])} exited with {process.returncode}")
    return Measured(usage.ru_maxrss / 1024, seconds)


def arguments() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--factors", nargs="+", type=int, default=[1, 4], help="data sizes")
    parser.add_argument("--epochs", type=int, default=2, help="train.epochs of every run")
    parser.add_argument("--patients", type=int, default=300, help="data.synthetic.n_patients at 1x")
    parser.add_argument("--cache", choices=("none", "disk"), default="none", help="train.cache")
    args = parser.parse_args()
    if min(args.epochs, args.patients, *args.factors) < 1:
        parser.error("--factors, --epochs and --patients must be at least 1")
    return args


def main() -> None:
    """Train at every size in its own process; print the peaks side by side and the ratio."""
    args = arguments()
    load = os.getloadavg()
    print(
        f"cxr-cls development training, {args.epochs} epochs, train.cache={args.cache}; "
        f"{os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="medai-train-memory-") as folder:
        scratch = Path(folder)
        env = environment(scratch)
        baseline = measure([sys.executable, "-c", _BASELINE], env)
        print(f"  imports only           : {baseline.peak_mib:8.1f} MiB", flush=True)
        rows = []
        for factor in args.factors:
            patients = factor * args.patients
            sets = overrides(scratch / f"x{factor}", patients, args.epochs, args.cache)
            images = generate(sets, env)
            command = [sys.executable, str(TRAIN_SCRIPT)]
            for value in sets:
                command += ["--set", value]
            run = measure(command, env)
            rows.append((factor, run))
            print(
                f"  {factor}x: {patients:5d} patients, {images:5d} images: peak RSS "
                f"{run.peak_mib:8.1f} MiB (+{run.peak_mib - baseline.peak_mib:.1f} over "
                f"imports), {run.seconds:.0f} s",
                flush=True,
            )
    (small, first), (large, last) = rows[0], rows[-1]
    ratio = last.peak_mib / first.peak_mib
    growth = (last.peak_mib - baseline.peak_mib) / max(first.peak_mib - baseline.peak_mib, 1e-9)
    print(
        f"summary: peak RSS {large}x / {small}x = {ratio:.3f} (target <= {TARGET}); "
        f"above imports {growth:.2f}x"
    )


if __name__ == "__main__":
    main()
