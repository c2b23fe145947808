"""Worker accounting on a real SQLite storage: exactly N trials, a killed worker's trial retried.

The workers are real processes (``cheap_worker.py``) running ``medai.tuning.study.work``
with a cheap objective, so what is tested is the queue, the storage's refusal to create
unqueued trials, the heartbeat and the retry, not the training.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from medai.tuning.storage import BudgetSpentError, check_storage, open_storage
from medai.tuning.study import SearchIdentity, TrialSeededTPE, create, load, trial_counts

WORKER = Path(__file__).with_name("cheap_worker.py")
SPACE = {"x": {"type": "float", "low": 0.0, "high": 1.0}}
WAIT_S = 120


@pytest.fixture
def storage_url(tmp_path):
    return check_storage(f"sqlite:///{tmp_path / 'optuna.db'}")


def _study(url, name, trials):
    storage = open_storage(url, heartbeat_s=None, grace_s=None, on_stale=None)
    return create(storage, name, SearchIdentity("demo", trials, SPACE), parent_run_id="parent")


def _workers(url, name, folder, count, block=None):
    extra = [] if block is None else [str(block)]
    return [
        subprocess.Popen([sys.executable, str(WORKER), url, name, str(folder), *extra])
        for _ in range(count)
    ]


def _wait(workers):
    deadline = time.monotonic() + WAIT_S
    codes = []
    for worker in workers:
        try:
            codes.append(worker.wait(timeout=max(1.0, deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            for other in workers:
                other.kill()
            pytest.fail("workers did not finish")
    return codes


def test_the_queue_is_the_budget_an_extra_ask_is_refused(storage_url):
    study = _study(storage_url, "budget", trials=2)
    first, second = study.ask(), study.ask()
    with pytest.raises(BudgetSpentError):
        study.ask()
    assert {first.number, second.number} == {0, 1}
    assert len(study.get_trials(deepcopy=False)) == 2


def test_three_workers_run_exactly_the_queued_trials(storage_url, tmp_path):
    study = _study(storage_url, "exact", trials=9)
    codes = _wait(_workers(storage_url, "exact", tmp_path, count=3))
    assert codes == [0, 0, 0]
    trials = study.get_trials(deepcopy=False)
    assert sorted(t.number for t in trials) == list(range(9))
    assert all(t.state == TrialState.COMPLETE for t in trials)
    ran = sorted(int(p.name.split("-")[1]) for p in tmp_path.glob("trial-*"))
    assert ran == list(range(9))  # each trial ran once, none twice
    assert len({t.params["x"] for t in trials}) == 9  # every trial its own draw


def test_a_killed_workers_trial_is_failed_and_retried_by_a_live_one(storage_url, tmp_path):
    study = _study(storage_url, "killed", trials=5)
    workers = _workers(storage_url, "killed", tmp_path, count=2, block=1)
    marker = tmp_path / "blocked-1"
    deadline = time.monotonic() + WAIT_S
    while not marker.exists():
        assert time.monotonic() < deadline, "trial 1 never started"
        time.sleep(0.1)
    time.sleep(0.2)
    pid = int(marker.read_text())
    victim = next(worker for worker in workers if worker.pid == pid)
    os.kill(pid, signal.SIGKILL)
    survivor = [worker for worker in workers if worker is not victim]

    assert _wait(survivor) == [0]
    assert victim.wait(timeout=10) == -signal.SIGKILL
    counts = trial_counts(study)
    assert counts[TrialState.COMPLETE] == 5
    assert counts[TrialState.FAIL] == 1
    assert sum(counts.values()) == 6
    failed = study.get_trials(deepcopy=False, states=(TrialState.FAIL,))[0]
    assert failed.number == 1
    retry = next(t for t in study.get_trials(deepcopy=False) if t.number == 5)
    assert retry.state == TrialState.COMPLETE
    assert retry.system_attrs["failed_trial"] == 1
    assert retry.params == failed.params  # the same trial again, not a new sample


def test_per_trial_seeds_give_workers_distinct_reproducible_draws(storage_url):
    _study(storage_url, "seeds", trials=4)
    storage = open_storage(storage_url, heartbeat_s=None, grace_s=None, on_stale=None)
    one = optuna.load_study(study_name="seeds", storage=storage, sampler=TrialSeededTPE(3, 10))
    two = optuna.load_study(study_name="seeds", storage=storage, sampler=TrialSeededTPE(3, 10))
    drawn = {}
    for study in (one, two, one, two):
        trial = study.ask()
        drawn[trial.number] = trial.suggest_float("x", 0.0, 1.0)
    assert len(set(drawn.values())) == 4  # one seed, four workers' worth of distinct draws

    alone = optuna.create_study(sampler=TrialSeededTPE(3, 10))
    for number in range(4):
        assert alone.ask().suggest_float("x", 0.0, 1.0) == drawn[number]


def test_load_returns_none_for_a_study_that_does_not_exist(storage_url):
    storage = open_storage(storage_url, heartbeat_s=None, grace_s=None, on_stale=None)
    assert load(storage, "nope") is None
