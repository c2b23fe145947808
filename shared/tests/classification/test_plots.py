import io

import numpy as np
import pytest
from PIL import Image

from medai.classification.metrics import evaluate_classifier
from medai.classification.plots import (
    CamPanel,
    plot_cam_grid,
    plot_reliability_diagram,
    plot_roc_curves,
)


@pytest.fixture(scope="module")
def report():
    rng = np.random.default_rng(0)
    targets = rng.integers(0, 2, (80, 3)).astype(float)
    targets[:, 2] = 0.0  # one class only: no ROC curve for it
    probabilities = np.clip(0.5 * targets + rng.uniform(0, 0.5, targets.shape), 0, 1)
    return evaluate_classifier(
        targets, probabilities, ["Effusion", "Edema", "Rare"], n_resamples=20
    )


def _png_size(figure):
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return Image.open(io.BytesIO(buffer.getvalue())).size


def test_roc_figure_has_a_line_per_defined_label_with_auroc_in_the_legend(report):
    figure = plot_roc_curves(report.roc)

    (axes,) = figure.axes
    legend = [text.get_text() for text in axes.get_legend().get_texts()]
    assert legend[:2] == [
        f"Effusion (AUROC {report.roc['Effusion'].auroc:.3f})",
        f"Edema (AUROC {report.roc['Edema'].auroc:.3f})",
    ]
    assert legend[2] == "chance"
    assert len(axes.get_lines()) == 3
    assert _png_size(figure)[0] > 100


def test_reliability_figure_has_the_diagonal_a_line_per_label_and_counts(report):
    figure = plot_reliability_diagram(report.calibration)

    top, bottom = figure.axes
    legend = [text.get_text() for text in top.get_legend().get_texts()]
    assert legend[0] == "calibrated"
    assert legend[1] == f"Effusion (ECE {report.calibration['Effusion'].ece:.3f})"
    assert len(top.get_lines()) == 4
    assert len(bottom.get_lines()) == 3
    counts = bottom.get_lines()[0].get_ydata()
    assert counts.sum() == 80
    assert _png_size(figure)[0] > 100


def test_cam_grid_titles_are_label_and_probability_only():
    rng = np.random.default_rng(1)
    panels = [
        CamPanel(rng.uniform(0, 1, (40, 40)), rng.uniform(0, 1, (32, 32)), label, p)
        for label, p in (("Effusion", 0.873), ("Edema", 0.051), ("Effusion", 0.5))
    ]

    figure = plot_cam_grid(panels, columns=2)

    titles = [axes.get_title() for axes in figure.axes]
    assert titles == ["Effusion: p=0.87", "Edema: p=0.05", "Effusion: p=0.50", ""]
    first = figure.axes[0]
    assert len(first.get_images()) == 2
    assert first.get_images()[0].get_array().shape == (32, 32)
    assert _png_size(figure)[0] > 100


@pytest.mark.parametrize(
    ("panels", "columns", "message"),
    [([], 4, "at least one panel"), ([None], 0, "columns must be at least 1, got 0")],
)
def test_cam_grid_refuses_nothing_to_show_or_no_columns(panels, columns, message):
    with pytest.raises(ValueError, match=message):
        plot_cam_grid(panels, columns=columns)
