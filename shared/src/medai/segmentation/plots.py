"""Figures logged to MLflow: image / truth / prediction overlays (curves: ``medai.engine``).

matplotlib is imported here only, with the Agg backend, so no display is needed and
servers that never plot never import it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib as mpl

mpl.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

from medai.segmentation.measures import display_window, most_labelled_slice

_LABEL_COLOURS = ListedColormap(
    [(0, 0, 0, 0), (0.1, 0.8, 0.2, 0.45), (0.95, 0.15, 0.1, 0.6), (0.2, 0.4, 1, 0.5)]
)


@dataclass(frozen=True)
class OverlayCase:
    """One case to draw: the image (in its own units), the true and predicted label maps."""

    title: str
    image: np.ndarray
    truth: np.ndarray
    prediction: np.ndarray


def plot_overlays(cases: Sequence[OverlayCase], window: tuple[float, float]) -> Figure:
    """One row per case: the image, the truth overlay, the prediction overlay (axial slice).

    ``window`` is the intensity range shown from black to white.
    """
    rows = max(len(cases), 1)
    figure, axes = plt.subplots(rows, 3, figsize=(9, 3 * rows), squeeze=False)
    for row, case in zip(axes, cases, strict=False):
        index = most_labelled_slice(case.truth)
        image = display_window(case.image[:, :, index], *window).T
        panels = (
            ("image", None),
            ("truth", case.truth[:, :, index].T),
            ("prediction", case.prediction[:, :, index].T),
        )
        for axis, (name, overlay) in zip(row, panels, strict=True):
            axis.imshow(image, cmap="gray", origin="lower")
            if overlay is not None:
                axis.imshow(
                    overlay,
                    cmap=_LABEL_COLOURS,
                    vmin=0,
                    vmax=3,
                    origin="lower",
                    interpolation="nearest",
                )
            axis.set_title(f"{case.title}: {name}", fontsize=9)
            axis.axis("off")
    figure.tight_layout()
    return figure
