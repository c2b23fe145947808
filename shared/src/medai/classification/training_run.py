"""One tracked training run of a classification project: data, task, engine, registry.

The task and loaders are ``medai.classification.training``'s; the epochs, the MLflow run
and the registration are the engine's (``medai.engine.run``); this is the thin layer
that joins them. The data is read and checked before any MLflow run opens (by the
command, before torch is even imported: ``training_inputs``), so a bad CSV or an
unreadable image stops with one line and leaves no trace; the loaders then read each
image again when an epoch needs it (``medai.classification.prepared``), so a dataset
larger than memory trains. The trained model gets the ``challenger`` alias only after
its checked ONNX export, registration and tags succeeded, so a failed run registers
nothing a server would pick up.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import torch

from medai.classification.networks import check_network_fits
from medai.classification.project import ClassificationProject, SettingsT
from medai.classification.registry import register_model
from medai.classification.training import MONITOR, plain_tensors, training_setup
from medai.classification.training_inputs import TrainingInputs, read_training_inputs
from medai.engine.devices import plan_devices
from medai.engine.run import (
    RunOptions,
    TrainingPlan,
    TrainingResult,
    ranking_metric,
    run_training,
)

LOGGER = logging.getLogger(__name__)

IMAGE_CHANNELS = 1
"""Channels of a prepared image: one grey level (``medai.classification.preprocessing``)."""

VALIDATION_METRIC = ranking_metric(MONITOR)
"""The run metric that ranks a training: the best epoch's macro AUROC on validation."""


@contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """Run the block with ``count`` torch CPU threads (unchanged when None), then restore."""
    previous = torch.get_num_threads()
    if count is not None:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def train(
    project: ClassificationProject[SettingsT],
    settings: SettingsT,
    inputs: TrainingInputs | None = None,
    *,
    options: RunOptions | None = None,
) -> TrainingResult:
    """Train on the project's data, track everything in MLflow, register the best model.

    Args:
        project: The project.
        settings: Its resolved settings.
        inputs: The data, checked already (the command checks it before importing
            torch); checked here when None.
        options: Resume, nesting, registration (``medai.engine.run.RunOptions``).

    Raises:
        medai.config.ConfigError: ``train.device`` / ``train.precision`` cannot be honoured
            here, ``preprocessing.image_step`` does not match the project's image step
            (before any data is read), or thresholds name labels the dataset lacks.
        medai.data.DatasetError: the label CSV or ``.npz`` cannot be used.
        medai.io.MedicalImageError: an image cannot be read (the file is named).
        medai.errors.NetworkContractError: the network (the project's own, or the
            kind's) is no ``CamClassifier``, or its input channels or outputs differ from
            the data's (before any run opens).
    """
    started = time.perf_counter()
    devices = plan_devices(settings.train)
    project.check_preprocessing(settings.preprocessing)
    if inputs is None:
        inputs = read_training_inputs(project, settings)
    data, train_items, val_items = inputs.data, inputs.train_items, inputs.val_items
    LOGGER.info(
        "%s: %d training and %d validation images of %s, %d labels",
        project.name,
        len(train_items),
        len(val_items),
        data.name,
        len(data.labels),
    )
    torch.manual_seed(settings.seed)
    network = project.build_network(settings, IMAGE_CHANNELS, len(data.labels))
    check_network_fits(network, IMAGE_CHANNELS, len(data.labels), settings.preprocessing.image_size)
    setup = training_setup(
        network, train_items, val_items, train=settings.train, seed=settings.seed
    )

    def register(tags: Mapping[str, str]) -> str:
        return register_model(
            network, settings, labels=data.labels, thresholds=inputs.thresholds, tags=dict(tags)
        )

    plan = TrainingPlan(
        project=project.name,
        settings=settings,
        train=settings.train,
        devices=devices,
        repo_root=project.binding.repo_root,
        manifest=data.manifest(),
        split=data.split.to_json(),
        params={
            "data.num_train_images": len(train_items),
            "data.num_val_images": len(val_items),
            "data.dataset_name": data.name,
        },
        task=setup.task,
        train_loader=setup.train_loader,
        val_loader=setup.val_loader,
        register=register,
    )
    with torch_threads(settings.train.torch_threads), plain_tensors():
        return run_training(plan, started=started, options=options)
