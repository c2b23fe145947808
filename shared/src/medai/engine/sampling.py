"""The training sampler: each epoch's shuffle and randomness keyed by (seed, epoch, rank).

Lightning resumes a checkpoint by creating the data iterator before the epoch's start
hooks run, so seeding generators in a hook would miss the first draws of a resumed
epoch. The sampler is where an epoch's draws begin in every case: Lightning sets its
epoch (``set_epoch``) before the first batch, and ``__iter__`` runs at that first batch.
``EpochShuffle`` there reseeds Python, NumPy, torch (dropout, noise) and the dataset's
MONAI random transforms with ``epoch_seed(seed, epoch, rank)`` and shuffles with the
same key, so an epoch replayed after a crash draws what it drew the first time. It is a
``DistributedSampler``: under DDP each rank takes its shard of the shuffled order.

With DataLoader worker processes (``train.num_workers`` > 0) the workers' own seeds
come from the iterator, made before the epoch is known: a resumed run then trains
correctly but not bit-identically (docs/training-engine.md).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler


def epoch_seed(seed: int, epoch: int, rank: int) -> int:
    """A 32-bit seed for one epoch of one process, independent of everything before it."""
    return int(np.random.SeedSequence([seed, epoch, rank]).generate_state(1)[0])


def _seed_transforms(dataset: object, seed: int) -> None:
    """Reseed a dataset's MONAI random transforms (``dataset.transform``), if it has them."""
    from monai.transforms import Randomizable  # noqa: PLC0415 - MONAI only where a kind uses it

    transform = getattr(dataset, "transform", None)
    if isinstance(transform, Randomizable):
        transform.set_random_state(seed=seed)


class EpochShuffle(DistributedSampler[Any]):
    """Shuffles by (seed, epoch) and reseeds every RNG the epoch draws from, at its start."""

    def __init__(self, dataset: Dataset[Any], *, seed: int, num_replicas: int, rank: int) -> None:
        """Shuffle ``dataset`` (this rank's shard of ``num_replicas``) from ``seed``."""
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed)
        self.dataset_ref = dataset
        self.skip = 0
        """Indices to leave out once, at the next epoch's start (a mid-epoch resume)."""

    def __iter__(self) -> Iterator[Any]:
        """Reseed the epoch's randomness, then yield this rank's indices of the shuffle."""
        value = epoch_seed(self.seed, self.epoch, self.rank)
        random.seed(value)
        np.random.seed(value)  # noqa: NPY002 - augmentation code draws from the global state
        torch.manual_seed(value)
        _seed_transforms(self.dataset_ref, value)
        indices = list(super().__iter__())
        skip, self.skip = self.skip, 0
        return iter(indices[skip:])


def with_epoch_shuffle(
    loader: DataLoader[Any], *, seed: int, num_replicas: int, rank: int
) -> DataLoader[Any]:
    """``loader`` again (same class, batches, workers, collation), sampling by ``EpochShuffle``."""
    sampler = EpochShuffle(loader.dataset, seed=seed, num_replicas=num_replicas, rank=rank)
    options: dict[str, Any] = {
        "batch_size": loader.batch_size,
        "sampler": sampler,
        "num_workers": loader.num_workers,
        "collate_fn": loader.collate_fn,
        "pin_memory": loader.pin_memory,
        "drop_last": loader.drop_last,
        "timeout": loader.timeout,
        "worker_init_fn": loader.worker_init_fn,
        "persistent_workers": loader.persistent_workers,
    }
    if loader.num_workers > 0:
        options["prefetch_factor"] = loader.prefetch_factor
    return type(loader)(loader.dataset, **options)
