"""A classification evaluation, as the deployment gate ranks it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from medai.classification.evaluation import EvaluationReport, gate_scores
from medai.classification.metrics import evaluate_classifier


def evaluation(probabilities: np.ndarray, targets: np.ndarray) -> EvaluationReport:
    report = evaluate_classifier(
        targets, probabilities, ("Nodule", "Effusion"), n_resamples=100, seed=0
    )
    return EvaluationReport(
        "demo", "3", "challenger", "validation", report, Path(), "run", data_digest="abc"
    )


def test_macro_auroc_ranks_and_per_label_figures_are_gated():
    rng = np.random.default_rng(0)
    targets = rng.integers(0, 2, size=(40, 2)).astype(float)
    probabilities = np.clip(targets * 0.6 + rng.random((40, 2)) * 0.5, 0, 1)

    scores = gate_scores(evaluation(probabilities, targets))

    assert (scores.version, scores.primary, scores.data_digest) == ("3", "auroc_macro", "abc")
    assert sorted(scores.metrics) == [
        "auroc_effusion",
        "auroc_macro",
        "auroc_nodule",
    ]
    assert all(metric.higher_is_better for metric in scores.metrics.values())
    assert scores.metrics["auroc_macro"].value > 0.8


def test_a_perfect_model_scores_one_and_a_reversed_model_zero():
    targets = np.array([[1, 0], [0, 1], [1, 1], [0, 0]] * 5, dtype=float)
    assert gate_scores(evaluation(targets, targets)).metrics["auroc_macro"].value == 1.0
    assert gate_scores(evaluation(1 - targets, targets)).metrics["auroc_macro"].value == 0.0


def test_a_champion_that_never_calls_a_finding_cannot_defend_its_specificity():
    """Always-negative: specificity 1.0 (reported), but nothing threshold-bound is gated."""
    targets = np.array([[1, 0], [0, 1], [1, 1], [0, 0]] * 5, dtype=float)
    never = evaluation(np.full_like(targets, 0.1), targets)
    assert never.report.as_metrics()["specificity_nodule"] == 1.0
    gated = gate_scores(never).metrics
    assert not any(name.startswith(("sensitivity", "specificity")) for name in gated)
    assert gated["auroc_nodule"].value == 0.5  # a constant ranks nothing
