"""brain-mri's evaluation figure: each tumour region on the contrast where it is read.

Radiologists delineate BraTS's regions on different sequences: the whole tumour (with
its oedema) on FLAIR, the tumour core and the enhancing tumour on post-contrast T1.
``region_overlays`` draws one row per case and one panel per region, on that region's
contrast, the truth filled and the prediction outlined, at the axial slice with the most
tumour. It is the project's ``overlays`` extension point; the learning curves are the
training engine's (``medai.engine.curves``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

from medai.segmentation.measures import most_labelled_slice
from medai.segmentation.plots import OverlayCase, default_overlays, display_slice
from medai.segmentation.regions import Regions, region_masks

__all__ = ["REGION_CONTRAST", "contrast_for", "region_overlays"]

REGION_CONTRAST: Final = {
    "whole_tumor": ("flair",),
    "tumor_core": ("t1c", "t1gd", "t1ce"),
    "enhancing_tumor": ("t1c", "t1gd", "t1ce"),
}
"""Region -> the channel names (any case; MSD's and BraTS's spellings) it is read on."""

_TRUTH: Final = ListedColormap([(0.1, 0.8, 0.2, 0.45)])


def contrast_for(region: str, channels: Mapping[str, np.ndarray]) -> tuple[str, np.ndarray]:
    """The channel ``region`` is shown on: its contrast if present, else the first channel.

    Raises:
        ValueError: ``channels`` is empty.
    """
    if not channels:
        raise ValueError("a case to draw needs at least one channel")
    by_name = {name.lower(): (name, image) for name, image in channels.items()}
    for wanted in REGION_CONTRAST.get(region, ()):
        if wanted in by_name:
            return by_name[wanted]
    name = next(iter(channels))
    return name, channels[name]


def region_overlays(
    cases: Sequence[OverlayCase], regions: Regions | None, window: tuple[float, float] | None
) -> Figure:
    """One row per case, one panel per region on its contrast: truth green, prediction red.

    A label model (``regions`` None) gets the kind's figure.
    """
    if regions is None:
        return default_overlays(cases, regions, window)
    rows, columns = max(len(cases), 1), len(regions)
    figure = Figure(figsize=(3 * columns, 3 * rows))
    axes = figure.subplots(rows, columns, squeeze=False)
    for row, case in zip(axes, cases, strict=False):
        index = most_labelled_slice(case.truth)
        channels = case.channels or {"image": case.image}
        truths = region_masks(case.truth[:, :, index], regions)
        predictions = region_masks(case.prediction[:, :, index], regions)
        for axis, name, truth, prediction in zip(
            row, regions.names, truths, predictions, strict=True
        ):
            contrast, image = contrast_for(name, channels)
            axis.imshow(display_slice(image[:, :, index], window).T, cmap="gray", origin="lower")
            axis.imshow(
                np.ma.masked_where(~truth.T, truth.T),
                cmap=_TRUTH,
                origin="lower",
                interpolation="nearest",
            )
            if prediction.any():
                axis.contour(prediction.T.astype(float), levels=[0.5], colors="red", linewidths=1)
            axis.set_title(f"{case.title}: {name} on {contrast}", fontsize=9)
            axis.axis("off")
    figure.tight_layout()
    return figure
