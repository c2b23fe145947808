"""Figures of a classifier's evaluation: ROC curves, reliability diagram, CAM overlays.

Each function returns a ``matplotlib.figure.Figure`` built without ``pyplot``: no global
figure state, no GUI backend (a bare ``Figure`` renders with Agg), so it is safe in a
training process or a worker thread. Log it with ``mlflow.log_figure`` or save it with
``figure.savefig``.

Titles carry labels and probabilities only; these functions take no identifiers, so no
patient or accession number can end up in a figure.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure
from numpy.typing import NDArray

from medai.classification.metrics import ReliabilityDiagram, RocCurve
from medai.classification.onnx_classifier import normalize_map
from medai.classification.preprocessing import resize_image


@dataclass(frozen=True)
class CamPanel:
    """One tile of the CAM grid.

    Attributes:
        image: ``(H, W)`` radiograph with intensities in ``[0, 1]``.
        cam: ``(S, S)`` class activation map of ``label`` (any non-negative scale).
        label: The label the map explains.
        probability: The predicted probability of ``label``.
    """

    image: NDArray[np.floating]
    cam: NDArray[np.floating]
    label: str
    probability: float


def plot_roc_curves(curves: Mapping[str, RocCurve]) -> Figure:
    """One panel, one ROC curve per label, its AUROC in the legend, and the chance line."""
    figure = Figure(figsize=(5.5, 5.0), layout="constrained")
    axes = figure.subplots()
    for label, curve in curves.items():
        axes.plot(curve.fpr, curve.tpr, label=f"{label} (AUROC {curve.auroc:.3f})")
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=0.8, label="chance")
    axes.set(
        xlabel="1 - specificity (false positive rate)",
        ylabel="sensitivity (true positive rate)",
        xlim=(0, 1),
        ylim=(0, 1.01),
        title="ROC curves",
    )
    axes.set_aspect("equal")
    axes.legend(loc="lower right", fontsize="small")
    return figure


def plot_reliability_diagram(diagrams: Mapping[str, ReliabilityDiagram]) -> Figure:
    """Fraction of positives against mean probability per bin, a line per label.

    The lower panel shows how many images fall in each bin (a point resting on few
    images says little); ECE per label is in the legend.
    """
    figure = Figure(figsize=(5.5, 6.5), layout="constrained")
    top, bottom = figure.subplots(
        2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]}, squeeze=True
    )
    top.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=0.8, label="calibrated")
    for label, diagram in diagrams.items():
        filled = diagram.count > 0
        line = top.plot(
            diagram.confidence[filled],
            diagram.accuracy[filled],
            marker="o",
            markersize=3,
            label=f"{label} (ECE {diagram.ece:.3f})",
        )[0]
        centres = (diagram.bin_edges[:-1] + diagram.bin_edges[1:]) / 2.0
        bottom.plot(centres, diagram.count, marker=".", color=line.get_color())
    top.set(ylabel="fraction of positives", xlim=(0, 1), ylim=(0, 1), title="Reliability")
    top.legend(loc="upper left", fontsize="small")
    bottom.set(xlabel="predicted probability", ylabel="images")
    return figure


def plot_cam_grid(panels: Sequence[CamPanel], *, columns: int = 4, alpha: float = 0.45) -> Figure:
    """Radiographs in greyscale with their CAM as a semi-transparent heatmap.

    Each tile's title is its label and probability; each CAM is scaled to ``[0, 1]`` on
    its own (compare the probabilities, not the colours, between tiles).

    Raises:
        ValueError: If ``panels`` is empty or ``columns`` < 1.
    """
    if not panels:
        raise ValueError("plot_cam_grid needs at least one panel, got none")
    if columns < 1:
        raise ValueError(f"columns must be at least 1, got {columns}")
    columns = min(columns, len(panels))
    rows = math.ceil(len(panels) / columns)
    figure = Figure(figsize=(2.6 * columns, 2.8 * rows), layout="constrained")
    grid = np.atleast_1d(figure.subplots(rows, columns, squeeze=False)).ravel()
    for axes, panel in zip(grid, panels, strict=False):
        cam = np.asarray(panel.cam)
        axes.imshow(resize_image(panel.image, cam.shape[0]), cmap="gray", vmin=0.0, vmax=1.0)
        axes.imshow(normalize_map(cam), cmap="inferno", vmin=0.0, vmax=1.0, alpha=alpha)
        axes.set_title(f"{panel.label}: p={panel.probability:.2f}", fontsize="medium")
    for axes in grid:
        axes.set_axis_off()
    return figure
