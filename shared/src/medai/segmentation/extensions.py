"""The segmentation kind's extension points: what a project may bring of its own.

A project fills them in the ``SegmentationProject`` of its ``settings.py``, from the
standard-layout modules that hold its code; whatever it leaves empty is the kind's:

==================  ============================  =========================================
extension point     the project's module           the kind's default
==================  ============================  =========================================
``network``         ``models/<package>.py``        residual UNet from ``model``
``normalizer``      ``utils/preprocessing.py``     ``preprocessing.normalize``: window/zscore
``metrics``         ``utils/metrics.py``           Dice and HD95 per label or region
``overlays``        ``utils/visualization.py``     one slice per case, every structure
routers/middleware  ``api/main.py``                ``POST /v1/predict`` and no middleware
==================  ============================  =========================================

This module is torch-free (numpy only), so a project's ``settings.py`` can name its
extensions without importing the training stack; each is called where the kind would
call its own: the normaliser in training, evaluation, prediction and both serving
backends, the metrics and overlays in evaluation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from numpy.typing import NDArray

from medai.extension_names import check_name, check_unique

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from medai.segmentation.plots import OverlayCase
    from medai.segmentation.regions import Regions

IntensityNormalizer = Callable[[NDArray[Any]], NDArray[np.float32]]
"""A project's intensity normalisation, ``preprocessing.normalize: project``.

Takes the ``(C, X, Y, Z)`` image on its input grid, before reorientation and resampling
(where the background is still exactly what the scanner wrote), and returns float32 of
the same shape. Pure numpy, so the ONNX server (which has no torch) runs the very same
function that the MONAI training chain runs.
"""

EXTENSION_POINTS: tuple[tuple[str, str, str], ...] = (
    ("network", "models/<package>.py", "residual UNet from `model`"),
    ("normalizer", "utils/preprocessing.py", "`preprocessing.normalize`: window or zscore"),
    ("metrics", "utils/metrics.py", "Dice and HD95 per label or region"),
    ("overlays", "utils/visualization.py", "one slice per case, every structure"),
    ("routers/middleware", "api/main.py", "`POST /v1/predict`, no middleware"),
)
"""(extension point, the project's module, the kind's default), as the table above says."""

KIND_METRICS = ("dice", "hd95")
"""The per-structure metrics the kind always computes (the primary metric is mean Dice)."""


@dataclass(frozen=True)
class StructureMetric:
    """One per-structure metric a project adds to the kind's Dice and HD95.

    Attributes:
        name: The metric's name in the report, the CSV and MLflow (``<name>_<structure>``),
            lower-case words joined by underscores, e.g. ``abs_volume_error_ml``.
        compute: ``(predicted mask, true mask, spacing in mm) -> value`` for one structure
            (a label or a region) of one case, on the case's own grid; NaN where the
            value does not exist (left out of the mean, as HD95's).
        higher_is_better: Which way the deployment gate reads it.
    """

    name: str
    compute: Callable[[NDArray[np.bool_], NDArray[np.bool_], Sequence[float]], float]
    higher_is_better: bool

    def __post_init__(self) -> None:
        """Refuse a name that would not be one MLflow key or would shadow the kind's."""
        check_name("metric", self.name, KIND_METRICS)


class OverlayFigure(Protocol):
    """A project's evaluation figure: the overlay cases in, one matplotlib figure out."""

    def __call__(
        self,
        cases: Sequence[OverlayCase],
        regions: Regions | None,
        window: tuple[float, float] | None,
    ) -> Figure:
        """Draw ``cases`` (``regions``: a region model's; ``window``: None for z-scored MRI)."""
        ...


def check_metric_names(metrics: Sequence[StructureMetric]) -> None:
    """Refuse two project metrics of one name (the second would overwrite the first).

    Raises:
        ValueError: naming the duplicated metric.
    """
    check_unique("metric", (metric.name for metric in metrics))
