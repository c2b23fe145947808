"""One trial's pieces: its values as --set overrides, the pruning observer, stale child runs."""

import optuna
import pytest
from mlflow.tracking import MlflowClient

from medai.config import ProjectSettings
from medai.config.layers import parse_scalar
from medai.engine.records import EpochRecord
from medai.tuning.names import STATE_TAG, STUDY_TAG, TRIAL_TAG
from medai.tuning.runs import end_stale_child
from medai.tuning.trial import PruningObserver, as_overrides

MONITOR = "val_score"


def _record(epoch, score=None):
    scores = {} if score is None else {MONITOR: score}
    return EpochRecord(epoch=epoch, train_loss=1.0, lr=0.1, seconds=0.1, scores=scores)


@pytest.mark.parametrize("value", [0.0012345678901234567, 4, "instance", True, None, 1e-5])
def test_a_value_comes_back_from_its_override_unchanged(value):
    (override,) = as_overrides({"train.x": value})
    key, _, text = override.partition("=")
    assert key == "train.x"
    parsed = parse_scalar(text)
    assert parsed == value
    assert type(parsed) is type(value)


def test_the_observer_reports_validated_epochs_and_stops_a_trial_below_the_median():
    study = optuna.create_study(
        direction="maximize",
        pruner=optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=0),
    )
    first = study.ask()
    for epoch, score in enumerate([0.6, 0.7, 0.8], start=1):
        first.report(score, epoch)
    study.tell(first, 0.8)

    trial = study.ask()
    observer = PruningObserver(trial, MONITOR)
    assert observer(_record(1)) is False  # no validation this epoch: nothing reported
    assert observer(_record(2, 0.75)) is False  # above the first trial's 0.7 at epoch 2
    # Its best so far (0.75) is below the first trial's 0.8 at epoch 3: stop here.
    assert observer(_record(3, 0.1)) is True
    assert observer.pruned_at == 3
    assert observer.scores == {2: 0.75, 3: 0.1}
    frozen = study.get_trials(deepcopy=False)[-1]
    assert frozen.intermediate_values == {2: 0.75, 3: 0.1}


def test_a_dead_workers_running_child_run_is_ended_failed(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    settings = ProjectSettings.model_validate(
        {
            "project": "demo",
            "environment": "development",
            "docker": {"image": "demo"},
            "tracking": {"uri": uri, "artifact_location": (tmp_path / "mlruns").as_uri()},
        }
    )
    client = MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment("demo", artifact_location=(tmp_path / "a").as_uri())
    tags = {STUDY_TAG: "study-1", TRIAL_TAG: "3"}
    dead = client.create_run(experiment, tags=tags).info.run_id
    other = client.create_run(experiment, tags={**tags, TRIAL_TAG: "4"}).info.run_id
    done = client.create_run(experiment, tags=tags).info.run_id
    client.set_terminated(done, status="FINISHED")

    ended = end_stale_child(settings, tmp_path, study="study-1", trial_number=3)

    assert ended == [dead]
    assert client.get_run(dead).info.status == "FAILED"
    assert client.get_run(dead).data.tags[STATE_TAG] == "failed"
    assert client.get_run(other).info.status == "RUNNING"
    assert client.get_run(done).info.status == "FINISHED"
