"""Resumable checkpoints: written atomically, read back only after they are checked.

A run's checkpoint folder (``checkpoint_folder``) holds ``resume.ckpt``, the state a
killed run continues from: Lightning's checkpoint (weights, optimiser, scheduler, grad
scaler, epoch and step counters, the engine's callbacks: epoch history and the best
epoch's weights) plus the engine's own ``medai`` entry (the MLflow run id, the RNG states
of Python, NumPy and torch, the training sampler's shuffle key and epoch). It is written every
``train.checkpoint_every`` epochs, after the last epoch, and on SIGTERM before the
process exits, always to a temporary file that is flushed and then renamed over the old
one: a kill mid-write leaves the previous checkpoint whole. A state saved between
epochs resumes exactly; one saved on SIGTERM mid-epoch resumes that epoch where
Lightning stopped it (not bit-exact). ``best.ckpt`` (the weights
that are registered) is written the same way at the end.

Every epoch's randomness is also derived from (seed, epoch, rank) at its start
(``medai.engine.sampling.EpochShuffle``), so an epoch replayed after a crash draws the
same patches, crops and shuffles as it did the first time.
"""

from __future__ import annotations

import fcntl
import logging
import os
import random
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import Checkpoint
from lightning.pytorch.utilities.exceptions import SIGTERMException
from torch.utils.data import DistributedSampler

from medai.engine.sampling import EpochShuffle

LOGGER = logging.getLogger(__name__)

RESUME_FILE = "resume.ckpt"
BEST_FILE = "best.ckpt"
FORMAT = 1
"""Version of the engine's ``medai`` entry in a checkpoint."""
CHECKPOINT_DIR_ENV = "MEDAI_CHECKPOINT_DIR"
"""Where checkpoint folders live instead of ``projects/<name>/outputs/checkpoints``
(a Kubernetes training Job points it at a volume every pod mounts)."""


class CheckpointError(Exception):
    """A checkpoint cannot be resumed from; ``str()`` is one line naming the file."""


def checkpoint_root(repo_root: Path, project: str) -> Path:
    """The folder holding one subfolder per run of ``project``.

    ``$MEDAI_CHECKPOINT_DIR/<project>`` when set, else ``projects/<project>/outputs/checkpoints``.
    """
    configured = os.environ.get(CHECKPOINT_DIR_ENV, "")
    if configured:
        return Path(configured) / project
    return repo_root / "projects" / project / "outputs" / "checkpoints"


def checkpoint_folder(root: Path, run_id: str) -> Path:
    """The checkpoint folder of one MLflow run."""
    return root / run_id


LOCK_FILE = ".lock"


@contextmanager
def run_lock(folder: Path) -> Iterator[None]:
    """Hold the run's folder for this process: a second trainer of the same run is refused.

    An exclusive ``flock`` on ``folder/.lock``, released when the block ends or the
    process dies (a SIGKILL frees it too), so ``--resume`` can tell a crashed run from one
    still training in another process.

    Raises:
        CheckpointError: Another process holds the folder.
    """
    folder.mkdir(parents=True, exist_ok=True)
    handle = (folder / LOCK_FILE).open("a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        message = f"run {folder.name} is still training in another process (its folder is locked)"
        raise CheckpointError(message) from None
    try:
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def is_locked(folder: Path) -> bool:
    """Whether another process is training the run of ``folder`` now."""
    if not (folder / LOCK_FILE).exists():
        return False
    try:
        with run_lock(folder):
            return False
    except CheckpointError:
        return True


def atomic_save(state: Mapping[str, Any], path: Path) -> None:
    """``torch.save`` to ``path`` through a flushed temporary file and a rename."""
    partial = path.with_name(f".{path.name}.partial")
    with partial.open("wb") as handle:
        torch.save(dict(state), handle)
        handle.flush()
        os.fsync(handle.fileno())
    partial.replace(path)


def rng_state() -> dict[str, Any]:
    """Python's, NumPy's and torch's global RNG states, as types ``weights_only`` loads."""
    version, python_state, gauss = random.getstate()
    # The legacy global state is what augmentation code draws from.
    name, keys, position, has_gauss, cached = np.random.get_state(legacy=True)  # noqa: NPY002
    state: dict[str, Any] = {
        "python": [version, list(python_state), gauss],
        "numpy": [
            name,
            torch.from_numpy(np.asarray(keys).astype(np.int64)),
            position,
            has_gauss,
            cached,
        ],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: Mapping[str, Any]) -> None:
    """Put back what ``rng_state`` took."""
    version, python_state, gauss = state["python"]
    random.setstate((version, tuple(python_state), gauss))
    name, keys, position, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), position, has_gauss, cached))  # noqa: NPY002
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _batches_done_mid_epoch(checkpoint: Mapping[str, Any]) -> int:
    """Batches of an unfinished epoch a checkpoint has trained (0 at an epoch boundary)."""
    try:
        loop = checkpoint["loops"]["fit_loop"]
        epochs = loop["epoch_progress"]["current"]
        batches = loop["epoch_loop.batch_progress"]["current"]
    except (KeyError, TypeError):
        return 0
    if int(epochs["processed"]) >= int(epochs["started"]):  # the epoch's batches all ran
        return 0
    return int(batches["ready"])


def _sampler_state(trainer: Trainer) -> dict[str, int] | None:
    """The training sampler's shuffle key (``EpochShuffle``: seed, epoch, replicas, rank)."""
    sampler = getattr(trainer.train_dataloader, "sampler", None)
    if not isinstance(sampler, DistributedSampler):
        return None
    return {
        "seed": int(sampler.seed),
        "epoch": int(sampler.epoch),
        "num_replicas": int(sampler.num_replicas),
        "rank": int(sampler.rank),
    }


class ResumeCheckpoint(Checkpoint):
    """Writes ``resume.ckpt`` every ``every`` epochs, after the last, and on SIGTERM.

    ``trained_epochs`` reads how many epochs a saved state has trained.

    A ``Checkpoint`` subclass, so Lightning runs it after the other callbacks of an
    epoch (the epoch record and best weights are in the state it writes). Every process
    calls ``Trainer.save_checkpoint`` (a collective under DDP); only rank 0 writes.
    """

    def __init__(self, folder: Path, *, every: int, run_id: str) -> None:
        """Write to ``folder/resume.ckpt``; ``run_id`` is stored in it."""
        self.folder = folder
        self.every = every
        self.run_id = run_id
        self.saved_epochs: list[int] = []
        self.resumed_at = -1
        self.batches_done = 0

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:  # noqa: ARG002
        """Every process writes where rank 0 was told to (only rank 0 knows the run)."""
        self.folder, self.run_id = trainer.strategy.broadcast((self.folder, self.run_id))

    @property
    def path(self) -> Path:
        """The resumable checkpoint's file."""
        return self.folder / RESUME_FILE

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:  # noqa: ARG002
        """After every ``every``-th epoch: the state it reached (validation included)."""
        epoch = trainer.current_epoch + 1  # epochs trained, this one included
        if epoch % self.every == 0:
            self.save(trainer)
            self.saved_epochs.append(epoch)

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:  # noqa: ARG002
        """After the last epoch (or an early stop): a crash before registration resumes here."""
        self.save(trainer)
        self.saved_epochs.append(trainer.current_epoch)

    def on_exception(
        self,
        trainer: Trainer,
        pl_module: LightningModule,  # noqa: ARG002 - Lightning's hook signature
        exception: BaseException,
    ) -> None:
        """On SIGTERM (an eviction), save the state reached before the process exits.

        Not during validation: Lightning would resume after it without validating the
        epoch, so the last checkpoint (before the epoch) stays and the epoch is redone.
        """
        if not isinstance(exception, SIGTERMException):
            return
        if trainer.validating:
            LOGGER.warning("SIGTERM during validation: keeping the checkpoint before this epoch")
            return
        LOGGER.warning("SIGTERM: writing the checkpoint before stopping")
        self.save(trainer)

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:  # noqa: ARG002
        """A mid-epoch (SIGTERM) resume: the sampler skips the batches already trained.

        Lightning counts them as done but iterates the loader from its start.
        """
        done, self.batches_done = self.batches_done, 0
        loader = trainer.train_dataloader
        sampler = getattr(loader, "sampler", None)
        if done and isinstance(sampler, EpochShuffle) and loader is not None:
            sampler.skip = done * int(loader.batch_size or 1)

    def save(self, trainer: Trainer) -> None:
        """Write the checkpoint through a temporary file (rank 0; the others wait)."""
        partial = self.folder / f".{RESUME_FILE}.partial"
        trainer.save_checkpoint(partial, weights_only=False)
        if trainer.is_global_zero:
            with partial.open("rb+") as handle:
                os.fsync(handle.fileno())
            partial.replace(self.path)
        trainer.strategy.barrier("medai.resume_checkpoint")

    def on_save_checkpoint(
        self,
        trainer: Trainer,
        pl_module: LightningModule,  # noqa: ARG002 - Lightning's hook signature
        checkpoint: dict[str, Any],
    ) -> None:
        """Add the run id, the RNG states and the sampler's shuffle key to the checkpoint."""
        checkpoint["medai"] = {
            "format": FORMAT,
            "run_id": self.run_id,
            "rng": rng_state(),
            "sampler": _sampler_state(trainer),
        }

    def on_load_checkpoint(
        self,
        trainer: Trainer,  # noqa: ARG002 - Lightning's hook signature
        pl_module: LightningModule,  # noqa: ARG002
        checkpoint: dict[str, Any],
    ) -> None:
        """Put the RNG states back (``EpochShuffle`` reseeds each epoch after this too)."""
        self.resumed_at = int(checkpoint.get("epoch", -1))
        self.batches_done = _batches_done_mid_epoch(checkpoint)
        extra = checkpoint.get("medai")
        if isinstance(extra, Mapping):
            restore_rng_state(extra["rng"])


def trained_epochs(state: Mapping[str, Any]) -> int:
    """How many epochs a Lightning checkpoint's state has trained (its fit loop's count)."""
    try:
        return int(state["loops"]["fit_loop"]["epoch_progress"]["current"]["processed"])
    except (KeyError, TypeError):
        return int(state.get("epoch", 0))


def read_resume_checkpoint(path: Path, run_id: str) -> dict[str, Any]:
    """The checkpoint at ``path``, checked to be whole, of this engine and of ``run_id``.

    Raises:
        CheckpointError: Missing, unreadable (truncated, corrupt), not written by the
            engine, or written by another run.
    """
    if not path.is_file():
        message = f"{path}: no checkpoint to resume run {run_id} from"
        raise CheckpointError(message)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure to unpickle means unusable
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        message = f"{path}: the checkpoint is truncated or corrupt ({reason[:160]})"
        raise CheckpointError(message) from None
    extra = state.get("medai") if isinstance(state, dict) else None
    if not isinstance(extra, dict) or extra.get("format") != FORMAT or "state_dict" not in state:
        message = f"{path}: not a resumable checkpoint of this engine (format {FORMAT})"
        raise CheckpointError(message)
    if extra.get("run_id") != run_id:
        message = f"{path}: the checkpoint belongs to run {extra.get('run_id')}, not {run_id}"
        raise CheckpointError(message)
    checked: dict[str, Any] = state
    return checked
