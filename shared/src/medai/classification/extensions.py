"""The classification kind's extension points: what a project may bring of its own.

A project fills them in the ``ClassificationProject`` of its ``settings.py``, from the
standard-layout modules that hold its code; whatever it leaves empty is the kind's:

==================  ============================  ==============================================
extension point     the project's module          the kind's default
==================  ============================  ==============================================
``network``         ``models/<package>.py``       ``CamClassifier`` from ``model``
``image_step``      ``utils/preprocessing.py``    none: the resize (and ``standardize``) alone
``metrics``         ``utils/metrics.py``          AUROC, sensitivity, specificity, ECE per label
``figures``         ``utils/visualization.py``    ROC curves, reliability diagram, Grad-CAM grid
routers/middleware  ``api/main.py``               ``POST /v1/predict`` and no middleware
==================  ============================  ==============================================

This module is torch-free (numpy only), so a project's ``settings.py`` can name its
extensions without importing the training stack; each is called where the kind would
call its own: the network in training (checked to fit the data first), the image step
wherever an image is prepared (training, evaluation, prediction, both serving backends),
the metrics and figures in evaluation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import numpy as np
from numpy.typing import NDArray

from medai.extension_names import check_name, check_unique

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from medai.classification.metrics import ClassificationReport
    from medai.classification.networks import CamClassifier
    from medai.classification.settings import ClassificationSettings

SettingsT = TypeVar("SettingsT", bound="ClassificationSettings")

EXTENSION_POINTS: tuple[tuple[str, str, str], ...] = (
    ("network", "models/<package>.py", "CamClassifier from model"),
    ("image_step", "utils/preprocessing.py", "none: the resize (and standardize) alone"),
    ("metrics", "utils/metrics.py", "AUROC, sensitivity, specificity, ECE per label"),
    ("figures", "utils/visualization.py", "ROC curves, reliability diagram, Grad-CAM grid"),
    ("routers/middleware", "api/main.py", "POST /v1/predict and no middleware"),
)
"""``(extension point, the project's module, the kind's default)``: the table above."""


NetworkFactory = Callable[[SettingsT, int, int], "CamClassifier"]
"""A project's network: ``(settings, in_channels, num_labels) -> CamClassifier``.

``CamClassifier`` is the contract (``medai.classification.networks``): pooled feature
maps and one linear head, which the kind's CAMs and ONNX export rely on. A subclass or
another configuration of it; training checks it fits the data before it starts.
"""


ImageStep = Callable[[NDArray[np.float32]], NDArray[np.float32]]
"""A project's image step, ``preprocessing.image_step: project``.

Takes the ``(S, S)`` float32 image just resized to the network's input (grey levels in
``[0, 1]``, the kind's range) and returns float32 of the same shape, finite; the kind's
``standardize`` (when set) runs after it. Pure numpy, so the ONNX server (which has no
torch) runs the very function that training ran. It sees the network's input, not the
upload, so its work is bounded by ``preprocessing.image_size`` whatever is sent.
"""

KIND_METRICS = (
    "auroc",
    "sensitivity",
    "specificity",
    "ece",
    "positives",
    "negatives",
    "threshold",
    "label",
)
"""The kind's own per-label figures and table columns; a project metric may not take one."""

KIND_FIGURES = ("roc_curves", "reliability", "gradcam")
"""The kind's evaluation figures (``<name>.png``); a project figure may not take one."""


@dataclass(frozen=True)
class LabelMetric:
    """One per-label metric a project adds to the kind's AUROC, sensitivity and specificity.

    Attributes:
        name: The metric's name in the report, the table and MLflow
            (``<name>_<label>_mean``, ``_ci_low``, ``_ci_high``), lower-case words joined
            by underscores, e.g. ``average_precision``.
        compute: ``(targets, scores) -> value`` for one label over a set of images:
            ``targets`` 1 (present) or 0 (absent), the images whose label is unknown left
            out, and ``scores`` the predicted probabilities, both ``(n,)`` float64. Called
            on every image, then on each bootstrap resample of them for the interval;
            NaN where the value does not exist (that resample is left out).
        higher_is_better: Which way the deployment gate reads it.
    """

    name: str
    compute: Callable[[NDArray[np.float64], NDArray[np.float64]], float]
    higher_is_better: bool

    def __post_init__(self) -> None:
        """Refuse a name that would not be one MLflow key or would shadow the kind's."""
        check_name("metric", self.name, KIND_METRICS)

    def value(self, targets: NDArray[np.float64], scores: NDArray[np.float64]) -> float:
        """``compute`` checked to return a number.

        Raises:
            TypeError: it returned something else (naming the metric).
        """
        value: Any = self.compute(targets, scores)
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
            raise TypeError(
                f"metric {self.name!r} returned {type(value).__name__}, expected a number"
            )
        return float(value)


class EvaluationFigures(Protocol):
    """A project's evaluation figures, drawn beside the kind's from what evaluation measured.

    ``targets`` and ``probabilities`` are the evaluated images' ``(N, K)`` labels (1, 0 or
    NaN for unknown) and predictions, in the report's label order; no image and no
    identifier reaches a figure.
    """

    def __call__(
        self,
        report: ClassificationReport,
        targets: NDArray[np.float64],
        probabilities: NDArray[np.float64],
    ) -> Mapping[str, Figure]:
        """Figures by name (lower-case words), each saved as ``<name>.png`` and logged."""
        ...


def check_metric_names(metrics: Sequence[LabelMetric]) -> None:
    """Refuse two project metrics of one name (the second would overwrite the first).

    Raises:
        ValueError: naming the duplicated metric.
    """
    check_unique("metric", (metric.name for metric in metrics))


def check_figure_names(names: Sequence[str]) -> None:
    """Refuse a project figure name that is no file stem of words or is the kind's.

    Raises:
        ValueError: naming the figure.
    """
    for name in names:
        check_name("figure", name, KIND_FIGURES)


def checked_image_step(step: ImageStep, image: NDArray[np.float32]) -> NDArray[np.float32]:
    """The project's image step on ``image``, checked to keep its shape and stay finite.

    Raises:
        ValueError: it returned another shape or non-finite values (a project bug, named
            as such).
    """
    stepped = np.ascontiguousarray(step(image), dtype=np.float32)
    if stepped.shape != image.shape:
        raise ValueError(
            f"the project's image step returned shape {stepped.shape} for an image of "
            f"shape {image.shape}; it must keep the shape"
        )
    if not np.isfinite(stepped).all():
        raise ValueError("the project's image step returned non-finite values (NaN or infinity)")
    return stepped
