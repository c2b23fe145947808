"""The study: created once with its trials queued, joined by every worker, worked off.

Exactly ``--trials`` trials end COMPLETE or PRUNED, however many workers on however
many machines take part: the process that creates the study queues that many trials
(WAITING, no parameters yet) in the same storage, and a worker only ever pops a queued
trial (``storage.open_storage`` refuses to create any other), so two workers that ask at
once get two different trials or none. Parameters are sampled when a worker starts a
trial, by TPE over the trials finished so far.

A worker that dies (SIGKILL, a lost machine) leaves its trial RUNNING without a
heartbeat; after ``tune.grace_s`` a live worker marks it FAIL and queues a copy with
the same parameters (Optuna's ``RetryHeartbeatStaleTrialCallback``), up to
``tune.max_retries`` times. So a worker keeps watching until no trial is queued or
running anywhere, not just until its own queue pop comes back empty.
"""

from __future__ import annotations

import contextlib
import json
import time
import warnings
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.exceptions import ExperimentalWarning
from optuna.samplers import BaseSampler, TPESampler
from optuna.storages import BaseStorage, RetryHeartbeatStaleTrialCallback, fail_stale_trials
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from medai.config.tuning import PrunerSettings, TuneSettings
from medai.tuning.errors import TuningError
from medai.tuning.names import PARENT_RUN_ATTR, PROJECT_ATTR, SPACE_ATTR, TRIALS_ATTR
from medai.tuning.storage import BudgetSpentError

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
SETUP_WAIT_S = 30.0
"""How long a joining process waits for the creator to record the study's budget."""


@dataclass(frozen=True)
class SearchIdentity:
    """What makes two processes' searches the same search (a joiner must match the creator).

    Attributes:
        project: The project's name.
        trials: How many trials end COMPLETE or PRUNED.
        space: ``tune.space`` as declared.
    """

    project: str
    trials: int
    space: Mapping[str, Any]

    def space_json(self) -> str:
        """The space as canonical JSON (how the study records it)."""
        return json.dumps(self.space, sort_keys=True)


class TrialSeededTPE(BaseSampler):
    """TPE whose random draws for trial ``n`` are seeded with ``seed + n``.

    Several workers with one seed would each draw the same first samples; seeding per
    trial number keeps a search reproducible from its seed and gives every trial its
    own draws. TPE keeps nothing else between trials, so a fresh sampler per trial
    changes nothing else.
    """

    def __init__(self, seed: int, n_startup_trials: int) -> None:
        """Sample with ``TPESampler(seed=seed + trial number, n_startup_trials=...)``."""
        self._seed = seed
        self._n_startup_trials = n_startup_trials
        self._current = self._for(seed)

    def _for(self, seed: int) -> TPESampler:
        return TPESampler(seed=seed, n_startup_trials=self._n_startup_trials)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        """Start the trial's own TPE."""
        self._current = self._for(self._seed + trial.number)
        self._current.before_trial(study, trial)

    def infer_relative_search_space(
        self, study: optuna.Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        """TPE's."""
        return self._current.infer_relative_search_space(study, trial)

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        """TPE's."""
        return self._current.sample_relative(study, trial, search_space)

    def sample_independent(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:  # noqa: ANN401 - a parameter value of any distribution
        """TPE's."""
        return self._current.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        """TPE's."""
        self._current.after_trial(study, trial, state, values)


def median_pruner(settings: PrunerSettings) -> optuna.pruners.MedianPruner:
    """Prune a trial whose reported score is below the median of earlier trials' at that epoch."""
    # Steps are 1-based epochs and Optuna prunes from step n_warmup_steps on: + 1 keeps
    # the first n_warmup_steps epochs, as the setting says, out of reach.
    return optuna.pruners.MedianPruner(
        n_startup_trials=settings.n_startup_trials, n_warmup_steps=settings.n_warmup_steps + 1
    )


def retry_stale(max_retries: int) -> Callable[[optuna.Study, FrozenTrial], None]:
    """Optuna's retry of a trial whose worker died: a queued copy with the same parameters."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)  # experimental in Optuna 5
        return RetryHeartbeatStaleTrialCallback(max_retry=max_retries)


def load(storage: BaseStorage, name: str, tune: TuneSettings | None = None) -> optuna.Study | None:
    """The study ``name`` with this process's sampler and pruner, or None if there is none."""
    sampler = TrialSeededTPE(tune.sampler_seed, tune.sampler_startup_trials) if tune else None
    pruner = median_pruner(tune.pruner) if tune else None
    try:
        return optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner)
    except KeyError:
        return None


def create(
    storage: BaseStorage, name: str, identity: SearchIdentity, parent_run_id: str
) -> optuna.Study:
    """Create study ``name`` with its budget recorded and ``identity.trials`` trials queued.

    Raises:
        optuna.exceptions.DuplicatedStudyError: another process created it first.
    """
    study = optuna.create_study(
        study_name=name, storage=storage, direction=StudyDirection.MAXIMIZE, load_if_exists=False
    )
    study.set_user_attr(PROJECT_ATTR, identity.project)
    study.set_user_attr(SPACE_ATTR, identity.space_json())
    study.set_user_attr(PARENT_RUN_ATTR, parent_run_id)
    for _ in range(identity.trials):
        study.enqueue_trial({})
    # Last: a joiner waits for this, so it never sees a study with half its queue.
    study.set_user_attr(TRIALS_ATTR, identity.trials)
    return study


def check_joinable(study: optuna.Study, identity: SearchIdentity) -> None:
    """A joiner's search must be the study's: same project, budget and space.

    Raises:
        TuningError: one of the three differs (or the study is not a medai search).
    """
    deadline = time.monotonic() + SETUP_WAIT_S
    while TRIALS_ATTR not in study.user_attrs and time.monotonic() < deadline:
        time.sleep(0.5)  # its creator is still queueing the trials
    attrs = study.user_attrs
    name = study.study_name
    if TRIALS_ATTR not in attrs:
        raise TuningError(f"study {name!r} is not a search started by medai.tuning")
    if attrs.get(PROJECT_ATTR) != identity.project:
        raise TuningError(
            f"study {name!r} searches project {attrs.get(PROJECT_ATTR)!r}, not "
            f"{identity.project!r}; name another --study"
        )
    if attrs[TRIALS_ATTR] != identity.trials:
        raise TuningError(
            f"study {name!r} was started for {attrs[TRIALS_ATTR]} trials, not "
            f"--trials={identity.trials}; join it with --trials={attrs[TRIALS_ATTR]}, or name "
            "another --study"
        )
    if attrs.get(SPACE_ATTR) != identity.space_json():
        raise TuningError(
            f"study {name!r} searches another tune.space than this config declares "
            f"(study: {attrs.get(SPACE_ATTR)}); join it with the same config"
        )


def trial_counts(study: optuna.Study) -> Counter[TrialState]:
    """How many of the study's trials are in each state."""
    return Counter(trial.state for trial in study.get_trials(deepcopy=False))


def _fail_stale(study: optuna.Study) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        fail_stale_trials(study)


def work(
    study: optuna.Study,
    objective: Callable[[optuna.Trial], float],
    *,
    poll_s: float,
) -> Counter[TrialState]:
    """Run queued trials until none is queued or running anywhere; the study's counts then.

    An objective that raises fails its trial (logged by Optuna) and the worker goes on
    with the next one; a trial of a dead worker is failed and queued again by whichever
    worker notices first (``open_storage``'s stale-trial callback).

    Args:
        study: The study, loaded with this worker's sampler, pruner and storage.
        objective: One trial: its value (raises ``optuna.TrialPruned`` when pruned).
        poll_s: How often to look again while other workers' trials run.
    """
    while True:
        # Until the queue is empty; some trials may still be running elsewhere then.
        with contextlib.suppress(BudgetSpentError):
            study.optimize(objective, catch=(Exception,), gc_after_trial=True)
        _fail_stale(study)  # may queue a retry of a dead worker's trial
        counts = trial_counts(study)
        if counts[TrialState.WAITING]:
            continue
        if not counts[TrialState.RUNNING]:
            return counts
        time.sleep(poll_s)
