"""Segmentation on the training engine: ``train``, one tracked, registered training.

``train`` reads the project's data, builds its network (the project's, or the kind's
UNet), the kind's task and loaders (``medai.segmentation.task``), and hands them to
``medai.engine.run.run_training``, which does the epochs, the MLflow run and the
registration.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from medai.engine.run import (
    RunOptions,
    TrainingPlan,
    TrainingResult,
    ranking_metric,
    run_training,
)
from medai.segmentation.project import SegmentationProject, SettingsT
from medai.segmentation.task import (
    MONITOR,
    PreparedFit,
    RegionLoss,
    SegmentationTask,
    data_loaders,
    optimiser_settings,
    plain_tensor,
    prepare_fit,
)

__all__ = [
    "MONITOR",
    "VALIDATION_METRIC",
    "PreparedFit",
    "RegionLoss",
    "SegmentationTask",
    "TrainingResult",
    "data_loaders",
    "optimiser_settings",
    "plain_tensor",
    "prepare_fit",
    "train",
]

LOGGER = logging.getLogger(__name__)

VALIDATION_METRIC = ranking_metric(MONITOR)
"""The run metric that ranks a training: the best epoch's mean foreground Dice."""


def train(
    project: SegmentationProject[SettingsT],
    settings: SettingsT,
    *,
    options: RunOptions | None = None,
) -> TrainingResult:
    """Train on the project's data, track everything in MLflow, register the best model.

    The registered version gets the ``challenger`` alias only after training finished;
    a crash leaves the registry exactly as it was.

    Raises:
        medai.config.ConfigError: ``train.device`` / ``train.precision`` cannot be honoured
            here, or ``preprocessing.normalize`` does not match the project's normaliser
            (before any data is read).
        medai.data.DatasetError, medai.io.MedicalImageError: the data cannot be used.
        medai.errors.NetworkContractError: the network's channels differ from the data's
            (input channels, or outputs: one per label, or one per region).
    """
    from medai.segmentation.registry import register_model  # noqa: PLC0415

    started = time.perf_counter()
    fit = prepare_fit(project, settings)
    data, network, regions = fit.data, fit.network, fit.data.regions

    def register(tags: Mapping[str, str]) -> str:
        return register_model(
            network,
            settings,
            labels=data.labels,
            tags=dict(tags),
            channels=data.dataset.channels,
            regions=regions,
        )

    params: dict[str, Any] = {
        "data.num_train_cases": len(data.split.train),
        "data.num_val_cases": len(data.split.validation),
    }
    return run_training(
        TrainingPlan(
            project=project.name,
            settings=settings,
            train=settings.train,
            devices=fit.devices,
            repo_root=project.binding.repo_root,
            manifest=data.manifest(),
            split=data.split.to_json(),
            params=params,
            task=fit.task,
            train_loader=fit.train_loader,
            val_loader=fit.val_loader,
            register=register,
        ),
        started=started,
        options=options,
    )
