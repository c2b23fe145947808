"""Real processes: torchrun with 2 ranks, a SIGKILL mid-training and ``--resume``.

Each training is ``scripts/train.py`` in a subprocess, as ``invoke train`` runs it, into
a throwaway MLflow store and checkpoint folder: one run and one version for two ranks;
a killed run that, resumed, ends with the weights, the metric and the run of an
uninterrupted one; and each ``--resume`` refusal in one line, exit 2, changing nothing.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from mlflow.tracking import MlflowClient

from medai.engine.checkpoints import RESUME_FILE, trained_epochs

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "train.py"
EPOCHS = 8
MODEL = "cxr-cls"
TIMEOUT_S = 600


class Store:
    """A throwaway MLflow store, data folder and checkpoint folder, and the commands on them."""

    def __init__(self, root: Path, small: dict[str, object]) -> None:
        self.root = root
        self.uri = f"sqlite:///{root / 'mlflow.db'}"
        self.checkpoints = root / "checkpoints" / MODEL
        settings = {
            **small,
            "data.synthetic.n_patients": 48,  # epochs long enough to be killed in one
            "train.epochs": EPOCHS,
            "train.checkpoint_every": 1,
            "data.root": str(root / "data"),
            "tracking.uri": self.uri,
            "tracking.artifact_location": (root / "mlruns").as_uri(),
        }
        self.overrides = [f"{key}={_json(value)}" for key, value in settings.items()]
        self.env = {
            **os.environ,
            "MEDAI_CHECKPOINT_DIR": str(root / "checkpoints"),
            "MLFLOW_TRACKING_URI": self.uri,
        }
        self.client = MlflowClient(self.uri, registry_uri=self.uri)

    def command(self, *extra: str, nproc: int = 1) -> list[str]:
        sets = [arg for value in self.overrides for arg in ("--set", value)]
        launcher = [sys.executable]
        if nproc > 1:
            launcher += ["-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}"]
        return [*launcher, str(SCRIPT), *sets, *extra]

    def run(self, *extra: str, nproc: int = 1) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*extra, nproc=nproc),
            env=self.env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            check=False,
        )

    def runs(self) -> list:
        experiments = [e.experiment_id for e in self.client.search_experiments()]
        return self.client.search_runs(
            experiments, filter_string="tags.`medai.run_kind` = 'training'"
        )

    def versions(self) -> list:
        return self.client.search_model_versions(f"name='{MODEL}'")

    def best_weights(self, run_id: str) -> dict[str, torch.Tensor]:
        path = self.client.download_artifacts(
            run_id, "checkpoints/best.ckpt", str(self.root / run_id)
        )
        return torch.load(path, weights_only=True)["state_dict"]


def _json(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _errors(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


@pytest.fixture
def store(tmp_path) -> Store:
    small = yaml.safe_load((Path(__file__).parents[1] / "fast_settings.yaml").read_text("utf-8"))
    return Store(tmp_path, small)


def _signal_everything_of(store: Store, how: signal.Signals) -> None:
    """Signal every process whose command line names this store (torchrun's ranks too)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if str(store.root) in command:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(entry.name), how)


def _kill_after(
    store: Store, epochs: int, how: signal.Signals = signal.SIGKILL, nproc: int = 1
) -> tuple[str, int]:
    """Start a training, signal it once its checkpoint has ``epochs`` epochs.

    Returns:
        The run id and the process's exit status.
    """
    process = subprocess.Popen(
        store.command(nproc=nproc),
        env=store.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # torchrun and its ranks: one process group to signal
    )
    deadline = time.monotonic() + TIMEOUT_S
    try:
        while time.monotonic() < deadline:
            assert process.poll() is None, "the training ended before it could be killed"
            for checkpoint in store.checkpoints.glob(f"*/{RESUME_FILE}"):
                try:
                    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
                except (OSError, RuntimeError, EOFError):
                    continue  # being replaced: look again
                if trained_epochs(state) >= epochs:
                    if nproc > 1:
                        _signal_everything_of(store, how)  # torchrun and its ranks
                    else:
                        process.send_signal(how)
                    return checkpoint.parent.name, process.wait(timeout=120)
            time.sleep(0.02)
    finally:
        if process.poll() is None:
            process.kill()
    pytest.fail("no checkpoint appeared in time")


def test_two_processes_train_one_run_and_register_one_version(store):
    result = store.run(nproc=2)

    assert result.returncode == 0, result.stderr[-3000:]
    (run,) = store.runs()
    assert run.info.status == "FINISHED"
    assert run.data.tags["medai.world_size"] == "2"
    assert run.data.params["engine.world_size"] == "2"
    (version,) = store.versions()
    assert version.run_id == run.info.run_id
    steps = [m.step for m in store.client.get_metric_history(run.info.run_id, "val_auroc_macro")]
    assert steps == list(range(1, EPOCHS + 1))
    summaries = [line for line in result.stdout.splitlines() if line.startswith("registered")]
    assert len(summaries) == 1, "only rank 0 reports"
    assert not list(store.checkpoints.iterdir()), "a finished run's checkpoints are removed"


def test_a_killed_run_resumes_into_the_same_run_and_ends_as_an_uninterrupted_one(store):
    uninterrupted = store.run()
    assert uninterrupted.returncode == 0, uninterrupted.stderr[-3000:]
    (whole,) = store.runs()

    killed, status = _kill_after(store, EPOCHS // 2)
    assert status == -signal.SIGKILL
    assert store.client.get_run(killed).info.status == "RUNNING"
    assert len(store.versions()) == 1, "a killed run registers nothing"
    checkpoint = store.checkpoints / killed / RESUME_FILE

    # Refusals: one line, exit 2, nothing changed (run, registry, checkpoint).
    before = checkpoint.read_bytes()
    foreign = store.client.create_run(
        store.client.get_run(killed).info.experiment_id,
        tags={"medai.project": "ct-seg", "medai.run_kind": "training"},
    ).info.run_id
    refusals = {
        whole.info.run_id: "it finished; there is nothing to resume",
        "0" * 32: "no MLflow run with that id",
        foreign: "it is a run of project 'ct-seg', not 'cxr-cls'",
    }
    for run_id, says in refusals.items():
        refused = store.run(f"--resume={run_id}")
        assert refused.returncode == 2
        assert len(_errors(refused)) == 1
        assert says in _errors(refused)[0]
    checkpoint.write_bytes(before[: len(before) // 2])
    truncated = store.run("--resume")
    assert truncated.returncode == 2
    assert "the checkpoint is truncated or corrupt" in _errors(truncated)[0]
    assert checkpoint.read_bytes() == before[: len(before) // 2], "a failed start writes nothing"
    checkpoint.write_bytes(before)
    assert store.client.get_run(killed).info.status == "RUNNING"
    assert len(store.versions()) == 1

    resumed = store.run("--resume")

    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"run {killed}" in resumed.stdout
    run = store.client.get_run(killed)
    assert run.info.status == "FINISHED"
    history = store.client.get_metric_history(killed, "val_auroc_macro")
    assert sorted(m.step for m in history) == list(range(1, EPOCHS + 1)), "no step twice"
    final = {m.step: m.value for m in history}[EPOCHS]
    reference = store.client.get_metric_history(whole.info.run_id, "val_auroc_macro")
    assert final == {m.step: m.value for m in reference}[EPOCHS]
    newest = max(store.versions(), key=lambda v: int(v.version))
    assert newest.run_id == killed
    expected, got = store.best_weights(whole.info.run_id), store.best_weights(killed)
    assert expected.keys() == got.keys()
    for key, value in expected.items():
        assert (value.double() - got[key].double()).abs().max().item() <= 1e-6, key
    assert not (store.checkpoints / killed).exists()
    nothing = store.run("--resume")
    assert nothing.returncode == 2
    assert "nothing to resume for cxr-cls" in _errors(nothing)[0]


def test_sigterm_writes_the_checkpoint_ends_the_run_killed_and_auto_resumes_it(store):
    stopped, status = _kill_after(store, 2, signal.SIGTERM)

    assert status == 143  # 128 + SIGTERM, after the checkpoint was written
    run = store.client.get_run(stopped)
    assert run.info.status == "KILLED"
    assert not store.versions(), "a preempted run registers nothing"
    state = torch.load(store.checkpoints / stopped / RESUME_FILE, weights_only=True)
    assert trained_epochs(state) >= 2
    assert state["medai"]["run_id"] == stopped

    resumed = store.run("--resume=auto")

    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert store.client.get_run(stopped).info.status == "FINISHED"
    (version,) = store.versions()
    assert version.run_id == stopped
    steps = [m.step for m in store.client.get_metric_history(stopped, "val_auroc_macro")]
    assert sorted(steps) == list(range(1, EPOCHS + 1))


def test_a_killed_two_process_run_resumes_with_two_processes_only(store):
    killed, _ = _kill_after(store, 3, nproc=2)
    assert store.client.get_run(killed).info.status == "RUNNING"

    other_size = store.run("--resume")
    assert other_size.returncode == 2
    expected = (
        f"error: --resume: run {killed} trained with 2 processes; resume it with the same "
        "number (--nproc x --nnodes), not 1"
    )
    assert _errors(other_size) == [expected]

    resumed = store.run("--resume", nproc=2)

    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert store.client.get_run(killed).info.status == "FINISHED"
    (version,) = store.versions()
    assert version.run_id == killed
    steps = [m.step for m in store.client.get_metric_history(killed, "val_auroc_macro")]
    assert sorted(steps) == list(range(1, EPOCHS + 1))
    assert len([line for line in resumed.stdout.splitlines() if line.startswith("registered")]) == 1
