"""A worker of a study with a cheap objective, run as its own process by test_workers.py.

``python cheap_worker.py URL STUDY FOLDER [BLOCK]``: works off the study's queued
trials with ``medai.tuning.study.work`` on a real SQLite storage with a heartbeat. Each
trial writes ``FOLDER/trial-<number>-<pid>`` and returns its sampled x after a moment;
trial number BLOCK (not its retry, which has a new number) instead writes
``FOLDER/blocked-<number>`` (holding the pid) and sleeps until the test kills this process.
"""

import os
import sys
import time
from pathlib import Path

import optuna

from medai.config.tuning import TuneSettings
from medai.tuning.storage import open_storage
from medai.tuning.study import load, retry_stale, work

HEARTBEAT_S = 1
GRACE_S = 10  # generous: a loaded 2-core CI machine delays heartbeats by seconds


def main() -> int:
    url, name, folder = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    block = int(sys.argv[4]) if len(sys.argv) > 4 else -1
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = open_storage(
        url, heartbeat_s=HEARTBEAT_S, grace_s=GRACE_S, on_stale=retry_stale(max_retries=2)
    )
    tune = TuneSettings(heartbeat_s=HEARTBEAT_S, grace_s=GRACE_S)
    study = load(storage, name, tune)
    assert study is not None

    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", 0.0, 1.0)
        if trial.number == block:  # its retry is a new trial, with a new number
            (folder / f"blocked-{trial.number}").write_text(str(os.getpid()))
            time.sleep(600)
        (folder / f"trial-{trial.number}-{os.getpid()}").touch()
        time.sleep(0.2)
        return x

    work(study, objective, poll_s=0.3)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
