"""Figures logged to MLflow: image / truth / prediction overlays (curves: ``medai.engine``).

matplotlib is imported here only, with the Agg backend, so no display is needed and
servers that never plot never import it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import matplotlib as mpl

mpl.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

from medai.segmentation.measures import display_window, most_labelled_slice
from medai.segmentation.regions import Regions, region_masks

_LABEL_COLOURS = ListedColormap(
    [(0, 0, 0, 0), (0.1, 0.8, 0.2, 0.45), (0.95, 0.15, 0.1, 0.6), (0.2, 0.4, 1, 0.5)]
)


@dataclass(frozen=True)
class OverlayCase:
    """One case to draw: the image (in its own units), the true and predicted label maps.

    ``image`` is the first (or only) channel; ``channels`` every channel of a
    multi-channel image by name (``FLAIR``, ``T1c``, ...), for a project's own figure
    that shows each region on the contrast where it is seen.
    """

    title: str
    image: np.ndarray
    truth: np.ndarray
    prediction: np.ndarray
    channels: Mapping[str, np.ndarray] = field(default_factory=dict)


def display_slice(image: np.ndarray, window: tuple[float, float] | None) -> np.ndarray:
    """The slice in [0, 1]: the window, or (None, z-scored MRI) its nonzero 1st-99th percentile."""
    if window is None:
        inside = image[image != 0]
        low, high = np.percentile(inside, [1, 99]) if inside.size else (0.0, 1.0)
        window = (float(low), float(high) if high > low else float(low) + 1.0)
    return display_window(image, *window)


def plot_overlays(cases: Sequence[OverlayCase], window: tuple[float, float] | None) -> Figure:
    """One row per case: the image, the truth overlay, the prediction overlay (axial slice).

    ``window`` is the intensity range shown from black to white; None: each slice's own
    nonzero 1st-99th percentile (MRI, whose units are arbitrary).
    """
    rows = max(len(cases), 1)
    figure, axes = plt.subplots(rows, 3, figsize=(9, 3 * rows), squeeze=False)
    for row, case in zip(axes, cases, strict=False):
        index = most_labelled_slice(case.truth)
        image = display_slice(case.image[:, :, index], window).T
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


def plot_region_overlays(
    cases: Sequence[OverlayCase], regions: Regions, window: tuple[float, float] | None
) -> Figure:
    """One row per case, one panel per region: truth filled green, prediction outlined red.

    Nested regions hide each other in one label map; a panel each shows every region's
    agreement on its own (axial slice with the most tumour).
    """
    rows, columns = max(len(cases), 1), len(regions) + 1
    figure, axes = plt.subplots(rows, columns, figsize=(3 * columns, 3 * rows), squeeze=False)
    for row, case in zip(axes, cases, strict=False):
        index = most_labelled_slice(case.truth)
        image = display_slice(case.image[:, :, index], window).T
        truths = region_masks(case.truth[:, :, index], regions)
        predictions = region_masks(case.prediction[:, :, index], regions)
        row[0].imshow(image, cmap="gray", origin="lower")
        row[0].set_title(f"{case.title}: image", fontsize=9)
        for axis, name, truth, prediction in zip(
            row[1:], regions.names, truths, predictions, strict=True
        ):
            axis.imshow(image, cmap="gray", origin="lower")
            axis.imshow(
                np.ma.masked_where(~truth.T, truth.T),
                cmap=ListedColormap([(0.1, 0.8, 0.2, 0.45)]),
                origin="lower",
                interpolation="nearest",
            )
            if prediction.any():
                axis.contour(prediction.T.astype(float), levels=[0.5], colors="red", linewidths=1)
            axis.set_title(f"{name}: truth / prediction", fontsize=9)
        for axis in row:
            axis.axis("off")
    figure.tight_layout()
    return figure


def default_overlays(
    cases: Sequence[OverlayCase], regions: Regions | None, window: tuple[float, float] | None
) -> Figure:
    """The kind's evaluation figure: label overlays, or one panel per region."""
    if regions is None:
        return plot_overlays(cases, window)
    return plot_region_overlays(cases, regions, window)
