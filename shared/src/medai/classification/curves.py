"""The learning curves of a classifier's training run, as one figure for MLflow.

Built on a bare ``Figure`` (no ``pyplot`` state, renders with Agg), like
``medai.classification.plots``.
"""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.figure import Figure

from medai.classification.training import EpochMetrics


def plot_learning_curves(history: Sequence[EpochMetrics], best_epoch: int | None = None) -> Figure:
    """Training loss and validation macro AUROC against epoch, the kept epoch marked."""
    figure = Figure(figsize=(10.0, 4.0), layout="constrained")
    loss_axes, auroc_axes = figure.subplots(1, 2)
    epochs = [m.epoch for m in history]
    loss_axes.plot(epochs, [m.train_loss for m in history], marker=".")
    loss_axes.set(title="training loss (weighted BCE)", xlabel="epoch", ylabel="loss")
    validated = [(m.epoch, m.val_macro_auroc) for m in history if m.val_macro_auroc is not None]
    if validated:
        auroc_axes.plot(*zip(*validated, strict=True), marker="o", color="tab:green")
    if best_epoch:
        auroc_axes.axvline(best_epoch, color="grey", linestyle="--", linewidth=0.8, label="kept")
        auroc_axes.legend(loc="lower right")
    auroc_axes.set(title="validation macro AUROC", xlabel="epoch", ylabel="AUROC", ylim=(0.4, 1.0))
    return figure
