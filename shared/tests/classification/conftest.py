"""Synthetic radiograph-like images, a tiny CamClassifier, and one shared short training run.

The problem is easy on purpose: label 0 is a bright 8x8 square somewhere in the image,
label 1 a horizontal bar; each present in about half the images, independently, with
label 1 unknown (NaN) in about a tenth. A few epochs on 64 images of 32x32 learn it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from medai.classification.export import export_checked_classifier
from medai.classification.networks import CamClassifier
from medai.classification.settings import TrainSettings
from medai.classification.training import train_classifier
from medai.engine.records import FitOutcome

SIZE = 32
LABELS = ("square", "bar")
SQUARE = 8


@dataclass(frozen=True)
class Synthetic:
    images: list[np.ndarray]
    labels: np.ndarray
    squares: list[tuple[int, int] | None]

    @property
    def items(self):
        return list(zip(self.images, self.labels, strict=True))


def make_synthetic(n: int, seed: int, size: int = SIZE) -> Synthetic:
    rng = np.random.default_rng(seed)
    images, labels, squares = [], [], []
    for _ in range(n):
        image = rng.uniform(0.0, 0.3, (size, size)).astype(np.float32)
        label = rng.integers(0, 2, 2).astype(np.float32)
        corner = None
        if label[0]:
            row, col = (int(v) for v in rng.integers(2, size - SQUARE - 2, 2))
            image[row : row + SQUARE, col : col + SQUARE] = 0.9
            corner = (row, col)
        if label[1]:
            row = int(rng.integers(2, size - 4))
            image[row : row + 3, :] = np.maximum(image[row : row + 3, :], 0.6)
        if rng.random() < 0.1:
            label[1] = np.nan
        images.append(image)
        labels.append(label)
        squares.append(corner)
    return Synthetic(images, np.stack(labels), squares)


def tiny_network(seed: int = 0, num_labels: int = len(LABELS)) -> CamClassifier:
    """Two dense blocks: 32x32 inputs give 4x4 feature maps."""
    torch.manual_seed(seed)
    return CamClassifier(num_labels, init_features=8, growth_rate=8, block_config=(2, 2))


@contextmanager
def one_torch_thread() -> Iterator[None]:
    """Tiny tensors train faster on one thread (and far faster on a shared, busy CPU)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@pytest.fixture(autouse=True)
def _one_torch_thread():
    with one_torch_thread():
        yield


@pytest.fixture(scope="session")
def synthetic():
    """The generator itself, for tests that need their own sets."""
    return make_synthetic


@pytest.fixture
def network_factory():
    return tiny_network


@dataclass(frozen=True)
class TrainedRun:
    network: CamClassifier
    outcome: FitOutcome
    config: TrainSettings
    train: Synthetic
    val: Synthetic
    epochs_reported: list


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """One short training run (about 5 epochs), shared by the tests that need a fitted model."""
    train, val = make_synthetic(64, seed=0), make_synthetic(32, seed=1)
    network = tiny_network()
    config = TrainSettings(epochs=5, batch_size=16, learning_rate=3e-3, val_every=1)
    reported: list = []
    with one_torch_thread():
        outcome = train_classifier(
            network,
            train.items,
            val.items,
            train=config,
            checkpoint_dir=tmp_path_factory.mktemp("checkpoints"),
            seed=0,
            on_epoch=reported.append,
        )
    return TrainedRun(network, outcome, config, train, val, reported)


@pytest.fixture(scope="session")
def exported(tmp_path_factory):
    """A tiny untrained network and its checked ONNX export (32x32 input)."""
    network = tiny_network(seed=5)
    path = tmp_path_factory.mktemp("onnx") / "classifier.onnx"
    with one_torch_thread():
        export_checked_classifier(network, path, image_size=SIZE)
    return network.eval(), path
