"""One tracked training run of a classification project: data, loop, MLflow, registry.

The loop itself is ``medai.classification.training.train_classifier``; this is the thin
layer around it. The data is read and checked before any MLflow run opens (by the
command, before torch is even imported: ``training_inputs``), so a bad CSV or an
unreadable image stops with one line and leaves no trace. The trained model gets the
``challenger`` alias only after its checked ONNX export, registration and tags
succeeded, so a failed run registers nothing a server would pick up.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import mlflow
import torch

from medai.classification.curves import plot_learning_curves
from medai.classification.model_factory import build_network
from medai.classification.project import ClassificationProject, SettingsT
from medai.classification.registry import register_classifier
from medai.classification.training import EpochMetrics, TrainConfig, train_classifier
from medai.classification.training_inputs import TrainingInputs, read_training_inputs
from medai.tracking.registry import VALIDATION_METRIC_TAG, aliased_figures, new_version_comparison
from medai.tracking.runs import tracked_run

LOGGER = logging.getLogger(__name__)

VALIDATION_METRIC = "best_val_auroc_macro"
"""The run metric that ranks a training: the best epoch's macro AUROC on validation."""


@dataclass(frozen=True)
class TrainingResult:
    """What a finished training produced."""

    run_id: str
    model_name: str
    model_version: str
    best_val_macro_auroc: float
    best_epoch: int
    seconds: float
    comparison: tuple[str, ...] = ()
    """How the version compares with the previous challenger and the champion."""


def train_config(settings: SettingsT) -> TrainConfig:
    """The loop's configuration from the ``train`` section and the run's seed."""
    train = settings.train
    return TrainConfig(
        epochs=train.epochs,
        batch_size=train.batch_size,
        learning_rate=train.learning_rate,
        weight_decay=train.weight_decay,
        val_every=train.val_every,
        seed=settings.seed,
        augment=train.augment,
        num_workers=train.num_workers,
    )


def training_device(choice: str) -> str:
    """``cpu`` or ``cuda``; ``auto`` picks a CUDA GPU when torch sees one."""
    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return choice


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
) -> TrainingResult:
    """Train on the project's data, track everything in MLflow, register the best model.

    Args:
        project: The project.
        settings: Its resolved settings.
        inputs: The data, read already (the command reads it before importing torch);
            read here when None.

    Raises:
        medai.config.ConfigError: e.g. thresholds naming labels the dataset lacks.
        medai.data.DatasetError: the label CSV or ``.npz`` cannot be used.
        medai.io.MedicalImageError: an image cannot be read (the file is named).
    """
    started = time.perf_counter()
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
    network = build_network(settings.model, len(data.labels))

    with tracked_run(
        settings, project.binding.repo_root, context="training", manifest=data.manifest()
    ) as (run, lineage):
        mlflow.log_text(data.split.to_json(), "data/split.json")
        mlflow.log_params(
            {
                "data.num_train_images": len(train_items),
                "data.num_val_images": len(val_items),
                "data.dataset_name": data.name,
            }
        )

        def log_epoch(metrics: EpochMetrics) -> None:
            mlflow.log_metrics(metrics.as_metrics(), step=metrics.epoch)

        with torch_threads(settings.train.torch_threads):
            outcome = train_classifier(
                network,
                train_items,
                val_items,
                config=train_config(settings),
                on_epoch=log_epoch,
                device=training_device(settings.train.device),
            )
        network.cpu()  # export, registration and the CPU servers load it from here
        mlflow.log_metrics(
            {VALIDATION_METRIC: outcome.best_macro_auroc, "best_epoch": outcome.best_epoch}
        )
        mlflow.log_figure(
            plot_learning_curves(outcome.history, outcome.best_epoch), "plots/learning_curves.png"
        )
        name = settings.registered_model_name()
        before = aliased_figures(name, VALIDATION_METRIC)
        version = register_classifier(
            network,
            settings,
            labels=data.labels,
            thresholds=inputs.thresholds,
            tags={
                **lineage.tags(),
                "medai.run_id": run.info.run_id,
                VALIDATION_METRIC_TAG: VALIDATION_METRIC,
                VALIDATION_METRIC: f"{outcome.best_macro_auroc:.4f}",
                "best_epoch": str(outcome.best_epoch),
            },
        )
        comparison = new_version_comparison(
            project=project.name,
            name=name,
            metric=VALIDATION_METRIC,
            version=version,
            before=before,
        )
    LOGGER.info(
        "registered %s version %s (best validation macro AUROC %.3f)",
        name,
        version,
        outcome.best_macro_auroc,
    )
    return TrainingResult(
        run_id=run.info.run_id,
        model_name=name,
        model_version=version,
        best_val_macro_auroc=outcome.best_macro_auroc,
        best_epoch=outcome.best_epoch,
        seconds=time.perf_counter() - started,
        comparison=comparison,
    )
