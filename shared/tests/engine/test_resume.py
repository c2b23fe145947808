"""Checkpoints a killed fit resumes from: exact continuation, atomic writes, refusals."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from medai.engine.checkpoints import (
    RESUME_FILE,
    CheckpointError,
    atomic_save,
    is_locked,
    read_resume_checkpoint,
    run_lock,
    trained_epochs,
)
from medai.engine.devices import plan_devices
from medai.engine.fit import fit
from medai.engine.sampling import EpochShuffle, epoch_seed
from medai.engine.settings import TrainingSettings
from medai.engine.task import OptimiserSettings, TrainingTask

pytestmark = pytest.mark.slow  # Lightning imports in ~10 s on a cold start

EPOCHS = 5


class CrashError(Exception):
    """Stands for the process dying (its state is whatever the checkpoint holds)."""


class NoisyRegression(TrainingTask):
    """Draws from every RNG a kind draws from: shuffling, dropout, input noise."""

    monitor = "val_score"
    monitor_label = "validation score"

    def __init__(self, crash_in_epoch: int | None = None) -> None:
        torch.manual_seed(0)
        network = torch.nn.Sequential(
            torch.nn.Linear(1, 8), torch.nn.Dropout(0.3), torch.nn.Linear(8, 1)
        )
        super().__init__(network, OptimiserSettings(0.05, 0.01, EPOCHS))
        self.crash_in_epoch = crash_in_epoch
        self.error = 0.0

    def training_loss(self, batch):
        if self.crash_in_epoch is not None and self.current_epoch + 1 == self.crash_in_epoch:
            raise CrashError
        x, y = batch
        noisy = x + 0.1 * torch.randn_like(x)
        return torch.nn.functional.mse_loss(self.network(noisy), y)

    def validation_step(self, batch, _batch_idx):
        x, y = batch
        self.error = float(torch.nn.functional.mse_loss(self.network(x), y))

    def validation_scores(self):
        return {"val_score": -self.error}


def loaders():
    x = torch.linspace(-1, 1, 32).unsqueeze(1)
    data = TensorDataset(x, 3 * x)
    return DataLoader(data, batch_size=4, shuffle=True), DataLoader(data, batch_size=8)


def train(task, folder, *, resume_from=None, every=1):
    settings = TrainingSettings(epochs=EPOCHS, device="cpu", checkpoint_every=every)
    return fit(
        task,
        *loaders(),
        train=settings,
        devices=plan_devices(settings),
        checkpoint_dir=folder,
        seed=7,
        run_id="run-1",
        resume_from=resume_from,
    )


@pytest.mark.parametrize(("crash_in", "every"), [(3, 1), (5, 2)])
def test_a_resumed_fit_ends_with_the_weights_of_an_uninterrupted_one(tmp_path, crash_in, every):
    (tmp_path / "whole").mkdir()
    (tmp_path / "killed").mkdir()
    whole = NoisyRegression()
    uninterrupted = train(whole, tmp_path / "whole", every=every)
    with pytest.raises(CrashError):
        train(NoisyRegression(crash_in_epoch=crash_in), tmp_path / "killed", every=every)

    torch.manual_seed(12345)  # a new process: its RNGs start elsewhere
    resumed_task = NoisyRegression()
    checkpoint = tmp_path / "killed" / RESUME_FILE
    resumed = train(resumed_task, tmp_path / "killed", resume_from=checkpoint, every=every)

    assert [r.epoch for r in resumed.history] == list(range(1, EPOCHS + 1))
    assert [r.train_loss for r in resumed.history] == [r.train_loss for r in uninterrupted.history]
    assert resumed.best_epoch == uninterrupted.best_epoch
    assert resumed.best_score == uninterrupted.best_score
    for key, value in whole.state_dict().items():
        assert torch.equal(value, resumed_task.state_dict()[key]), key


def test_the_checkpoint_holds_the_run_the_rng_states_and_the_sampler(tmp_path):
    train(NoisyRegression(), tmp_path)

    state = read_resume_checkpoint(tmp_path / RESUME_FILE, "run-1")

    assert trained_epochs(state) == EPOCHS
    extra = state["medai"]
    assert extra["run_id"] == "run-1"
    assert set(extra["rng"]) >= {"python", "numpy", "torch"}
    assert extra["sampler"] == {"seed": 7, "epoch": EPOCHS - 1, "num_replicas": 1, "rank": 0}
    assert {"optimizer_states", "lr_schedulers", "loops", "callbacks"} <= set(state)


def test_a_truncated_checkpoint_is_refused_with_its_path(tmp_path):
    train(NoisyRegression(), tmp_path)
    path = tmp_path / RESUME_FILE
    path.write_bytes(path.read_bytes()[:1000])

    with pytest.raises(
        CheckpointError, match=r"resume\.ckpt: the checkpoint is truncated or corrupt"
    ):
        read_resume_checkpoint(path, "run-1")


def test_a_checkpoint_of_another_run_or_engine_is_refused(tmp_path):
    train(NoisyRegression(), tmp_path)
    with pytest.raises(CheckpointError, match="belongs to run run-1, not run-2"):
        read_resume_checkpoint(tmp_path / RESUME_FILE, "run-2")
    foreign = tmp_path / "foreign.ckpt"
    atomic_save({"state_dict": {}}, foreign)
    with pytest.raises(CheckpointError, match="not a resumable checkpoint of this engine"):
        read_resume_checkpoint(foreign, "run-1")
    with pytest.raises(CheckpointError, match="no checkpoint to resume run run-1 from"):
        read_resume_checkpoint(tmp_path / "absent.ckpt", "run-1")


def test_an_interrupted_write_leaves_the_previous_checkpoint_whole(tmp_path, monkeypatch):
    path = tmp_path / "state.ckpt"
    atomic_save({"value": torch.tensor(1)}, path)

    def dies_mid_write(_obj, handle):
        handle.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", dies_mid_write)
    with pytest.raises(OSError, match="disk full"):
        atomic_save({"value": torch.tensor(2)}, path)

    monkeypatch.undo()
    assert torch.load(path, weights_only=True)["value"].item() == 1


@pytest.mark.parametrize(("crash_in", "saved"), [(2, None), (4, 2), (5, 4)])
def test_checkpoints_are_written_every_n_epochs(tmp_path, crash_in, saved):
    with pytest.raises(CrashError):
        train(NoisyRegression(crash_in_epoch=crash_in), tmp_path, every=2)

    path = tmp_path / RESUME_FILE
    if saved is None:
        assert not path.exists()
    else:
        assert trained_epochs(read_resume_checkpoint(path, "run-1")) == saved


def test_the_epoch_shuffle_depends_on_seed_epoch_and_rank_only():
    data = list(range(20))
    first = EpochShuffle(data, seed=1, num_replicas=2, rank=0)
    first.set_epoch(3)
    again = EpochShuffle(data, seed=1, num_replicas=2, rank=0)
    torch.manual_seed(99)  # whatever came before
    again.set_epoch(3)
    other_rank = EpochShuffle(data, seed=1, num_replicas=2, rank=1)
    other_rank.set_epoch(3)

    assert list(first) == list(again)
    assert set(first).isdisjoint(set(other_rank))
    assert sorted([*first, *other_rank]) == data
    assert epoch_seed(1, 3, 0) != epoch_seed(1, 4, 0) != epoch_seed(2, 3, 0)


def test_a_run_folder_is_held_by_one_process_at_a_time(tmp_path):
    folder = tmp_path / "run-1"
    assert not is_locked(folder)
    with run_lock(folder):
        assert is_locked(folder)
        with pytest.raises(CheckpointError, match="run-1 is still training in another process"):
            run_lock(folder).__enter__()
    assert not is_locked(folder)


def test_a_mid_epoch_resume_skips_the_batches_already_trained_once():
    shuffle = EpochShuffle(list(range(12)), seed=1, num_replicas=1, rank=0)
    shuffle.set_epoch(2)
    whole = list(shuffle)
    shuffle.skip = 4

    assert list(shuffle) == whole[4:]
    assert list(shuffle) == whole, "only the resumed epoch skips"
