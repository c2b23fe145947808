"""cxr-cls answers with probabilities per finding, the positives and optional Grad-CAM PNGs."""

from medai.classification.serving.response import (
    ClassificationResult,
    Heatmap,
    classification_result,
    heatmap_labels,
)

__all__ = ["ClassificationResult", "Heatmap", "classification_result", "heatmap_labels"]
