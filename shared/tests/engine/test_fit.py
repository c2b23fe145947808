"""The engine's fit on a tiny task: records, final validation, best weights, interruption."""

from __future__ import annotations

import math

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from medai.engine.devices import plan_devices
from medai.engine.fit import fit
from medai.engine.settings import TrainingSettings
from medai.engine.task import OptimiserSettings, TrainingTask

pytestmark = pytest.mark.slow  # Lightning and torch.optim import in ~10 s on a cold start


class ScriptedScores(TrainingTask):
    """Regression on a line whose validation 'score' is scripted per epoch."""

    monitor = "val_score"
    monitor_label = "validation score"

    def __init__(self, scores: list[float], *, interrupt_at: int | None = None) -> None:
        torch.manual_seed(0)
        super().__init__(torch.nn.Linear(1, 1), OptimiserSettings(0.05, 0.0, len(scores)))
        self.scripted = scores
        self.interrupt_at = interrupt_at
        self.weights_at_validation: dict[int, torch.Tensor] = {}

    def training_loss(self, batch):
        if self.interrupt_at is not None and self.current_epoch + 1 == self.interrupt_at:
            raise KeyboardInterrupt
        x, y = batch
        return torch.nn.functional.mse_loss(self.network(x), y)

    def validation_step(self, batch, batch_idx):
        pass

    def validation_scores(self):
        epoch = self.current_epoch + 1
        self.weights_at_validation[epoch] = self.network.weight.detach().clone()
        return {"val_score": self.scripted[epoch - 1], "val_other": 1.0}


def loaders():
    x = torch.linspace(-1, 1, 16).unsqueeze(1)
    data = TensorDataset(x, 3 * x)
    return DataLoader(data, batch_size=4), DataLoader(data, batch_size=8)


def run(task, tmp_path, **train):
    settings = TrainingSettings(epochs=len(task.scripted), device="cpu", **train)
    records = []
    outcome = fit(
        task,
        *loaders(),
        train=settings,
        devices=plan_devices(settings),
        checkpoint_dir=tmp_path,
        on_epoch=records.append,
    )
    return outcome, records


def test_the_best_scoring_epoch_is_kept_not_the_last(tmp_path):
    task = ScriptedScores([0.2, 0.9, 0.5, 0.4])

    outcome, records = run(task, tmp_path, val_every=1)

    assert outcome.best_epoch == 2
    assert outcome.best_score == 0.9
    assert [r.scores["val_score"] for r in records] == [0.2, 0.9, 0.5, 0.4]
    torch.testing.assert_close(task.network.weight, task.weights_at_validation[2])
    assert not torch.equal(task.network.weight, task.weights_at_validation[4])
    assert records[-1].train_loss < records[0].train_loss
    assert records[0].lr == pytest.approx(0.05)
    assert records[-1].lr < records[0].lr  # the cosine schedule steps per epoch


def test_val_every_skips_epochs_but_never_the_last(tmp_path):
    task = ScriptedScores([0.1, 0.2, 0.3, 0.4, 0.5])

    outcome, records = run(task, tmp_path, val_every=2)

    assert [r.validated for r in records] == [False, True, False, True, True]
    assert outcome.best_epoch == 5
    assert math.isnan(records[0].scores.get("val_score", math.nan))


def test_nan_scores_never_beat_a_real_one(tmp_path):
    task = ScriptedScores([0.3, math.nan, math.nan])

    outcome, _ = run(task, tmp_path)

    assert outcome.best_epoch == 1
    assert outcome.best_score == 0.3


def test_a_non_empty_checkpoint_folder_is_refused_before_training(tmp_path):
    (tmp_path / "best.ckpt").write_bytes(b"stale")
    task = ScriptedScores([0.5])

    with pytest.raises(ValueError, match="the checkpoint folder must be empty"):
        run(task, tmp_path)
    assert (tmp_path / "best.ckpt").read_bytes() == b"stale"


def test_ctrl_c_raises_keyboard_interrupt_instead_of_exiting(tmp_path):
    task = ScriptedScores([0.5, 0.6, 0.7], interrupt_at=2)

    with pytest.raises(KeyboardInterrupt):
        run(task, tmp_path)


def test_a_task_whose_scores_lack_the_monitor_is_named(tmp_path):
    class Unmonitored(ScriptedScores):
        def validation_scores(self):
            return {"val_other": 1.0}

    with pytest.raises(KeyError, match="expected the monitored score 'val_score'"):
        run(Unmonitored([0.5]), tmp_path)
