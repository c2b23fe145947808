"""The learning curves of a training run, as one figure for MLflow.

Built on a bare ``Figure`` (no ``pyplot`` state; renders with Agg), so a training on a
server without a display plots, and nothing global changes.
"""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.figure import Figure

from medai.engine.records import EpochRecord


def plot_learning_curves(
    history: Sequence[EpochRecord], monitor: str, monitor_label: str, best_epoch: int | None = None
) -> Figure:
    """Training loss and the monitored validation score against epoch, the kept one marked."""
    figure = Figure(figsize=(10.0, 4.0), layout="constrained")
    loss_axes, score_axes = figure.subplots(1, 2)
    loss_axes.plot([r.epoch for r in history], [r.train_loss for r in history], marker=".")
    loss_axes.set(title="training loss", xlabel="epoch", ylabel="loss")
    validated = [(r.epoch, r.scores[monitor]) for r in history if monitor in r.scores]
    if validated:
        score_axes.plot(*zip(*validated, strict=True), marker="o", color="tab:green")
    if best_epoch:
        score_axes.axvline(best_epoch, color="grey", linestyle="--", linewidth=0.8, label="kept")
        score_axes.legend(loc="lower right")
    score_axes.set(title=monitor_label, xlabel="epoch", ylabel=monitor, ylim=(0.0, 1.0))
    return figure
