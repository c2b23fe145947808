"""One trial: sample the space, train the project with those values, report each epoch.

A trial's values become ``--set`` overrides on top of the search's own, so the trial
trains exactly the config a user gets with ``invoke train --set KEY=VALUE ...`` and the
engine logs its lineage and resolved config as for every run. The training is an MLflow
child run of the search's parent run, not registered; after each validation epoch its
score goes to the pruner, which may stop the training there (the trial is then PRUNED,
its run FINISHED with the epochs it had).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import optuna
from mlflow.tracking import MlflowClient

from medai.config.tuning import AnyDistribution, CategoricalDistribution, FloatDistribution
from medai.engine.records import EpochRecord
from medai.engine.run import RunOptions, TrainingResult
from medai.tuning.names import (
    METRIC_ATTR,
    OVERRIDES_ATTR,
    RUN_ID_ATTR,
    STATE_TAG,
    STORAGE_TAG,
    STUDY_TAG,
    TRIAL_TAG,
)
from medai.tuning.project import TunedProject

LOGGER = logging.getLogger(__name__)

Train = Callable[..., TrainingResult]
"""A kind's ``train(project, settings, *, options=RunOptions(...))``."""


def suggest(trial: optuna.Trial, key: str, distribution: AnyDistribution) -> object:
    """The trial's value of ``key`` (sampled now, or the retried trial's own)."""
    if isinstance(distribution, FloatDistribution):
        return trial.suggest_float(
            key, distribution.low, distribution.high, step=distribution.step, log=distribution.log
        )
    if isinstance(distribution, CategoricalDistribution):
        return trial.suggest_categorical(key, list(distribution.choices))
    return trial.suggest_int(
        key, distribution.low, distribution.high, step=distribution.step, log=distribution.log
    )


def as_overrides(values: Mapping[str, object]) -> list[str]:
    """``KEY=VALUE`` strings, values as JSON (how ``--set`` parses them back)."""
    return [f"{key}={json.dumps(value)}" for key, value in values.items()]


@dataclass
class PruningObserver:
    """The engine's epoch observer of one trial: report, and stop when the pruner says so.

    Attributes:
        trial: The trial.
        monitor: The kind's validation score (``val_auroc_macro``).
        pruned_at: The epoch the pruner stopped the trial at (None: it did not).
    """

    trial: optuna.Trial
    monitor: str
    pruned_at: int | None = None
    scores: dict[int, float] = field(default_factory=dict)

    def __call__(self, record: EpochRecord) -> bool:
        """True (stop training) when the trial should be pruned after this epoch."""
        if not record.validated or self.monitor not in record.scores:
            return False
        score = record.scores[self.monitor]
        self.scores[record.epoch] = score
        self.trial.report(score, record.epoch)
        if self.trial.should_prune():
            self.pruned_at = record.epoch
            return True
        return False


@dataclass(frozen=True)
class TrialObjective:
    """Optuna's objective for one project: a trial's validation score.

    Attributes:
        tuned: The project and its kind.
        train: The kind's ``train``.
        monitor: The kind's monitored validation score.
        distributions: The parsed ``tune.space``.
        overrides: The search's own ``--set`` overrides (each trial adds its values).
        parent_run_id: The search's MLflow parent run.
        study: The study's name (tags).
        storage: The storage URL without password (tags).
    """

    tuned: TunedProject
    train: Train
    monitor: str
    distributions: Mapping[str, AnyDistribution]
    overrides: Sequence[str]
    parent_run_id: str
    study: str
    storage: str

    def __call__(self, trial: optuna.Trial) -> float:
        """Train one trial's config; its best validation score.

        Raises:
            optuna.TrialPruned: the pruner stopped the training early.
        """
        values = {key: suggest(trial, key, dist) for key, dist in self.distributions.items()}
        overrides = as_overrides(values)
        trial.set_user_attr(OVERRIDES_ATTR, overrides)
        settings = self.tuned.binding.load([*self.overrides, *overrides])
        observer = PruningObserver(trial, self.monitor)
        options = RunOptions(
            parent_run_id=self.parent_run_id,
            register=False,
            on_epoch=observer,
            run_name=f"trial-{trial.number}",
            tags={
                STUDY_TAG: self.study,
                TRIAL_TAG: str(trial.number),
                STORAGE_TAG: self.storage,
            },
        )
        LOGGER.info("trial %d: %s", trial.number, " ".join(overrides))
        result = self.train(self.tuned.project, settings, options=options)
        trial.set_user_attr(RUN_ID_ATTR, result.run_id)
        trial.set_user_attr(METRIC_ATTR, result.metric)
        pruned = result.stopped_early or observer.pruned_at is not None
        # The engine ended the run FINISHED either way; the tag says which (MLflow's UI filters).
        MlflowClient().set_tag(result.run_id, STATE_TAG, "pruned" if pruned else "complete")
        if pruned:
            best = max(observer.scores.values(), default=float("nan"))
            raise optuna.TrialPruned(
                f"its best {self.monitor} by epoch {observer.pruned_at}, {best:.4f}, is below "
                "the median of the trials before it at that epoch"
            )
        return result.best_score


def objective_for(
    tuned: TunedProject,
    distributions: Mapping[str, AnyDistribution],
    overrides: Sequence[str],
    *,
    parent_run_id: str,
    study: str,
    storage: str,
) -> TrialObjective:
    """The objective of ``tuned``: its kind's ``train`` and monitored score (imports torch)."""
    train: Any = tuned.kind.resolve("train")
    monitor = str(tuned.kind.resolve("task").monitor)
    return TrialObjective(
        tuned=tuned,
        train=train,
        monitor=monitor,
        distributions=distributions,
        overrides=tuple(overrides),
        parent_run_id=parent_run_id,
        study=study,
        storage=storage,
    )
