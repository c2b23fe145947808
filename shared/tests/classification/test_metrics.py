import logging
import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from medai.classification.metrics import (
    evaluate_classifier,
    macro_auroc,
    metric_names,
    per_label_auroc,
    rank_auroc,
    reliability_diagram,
    roc_points,
)

NAN = float("nan")


def _balanced_targets(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.permutation(np.arange(n) % 2).astype(float)


def _two_labels(n=60, seed=0):
    """Column 0 perfectly ranked, column 1 perfectly inverted."""
    rng = np.random.default_rng(seed)
    targets = np.stack([_balanced_targets(n, seed), _balanced_targets(n, seed + 1)], axis=1)
    noise = rng.uniform(0.0, 0.3, targets.shape)
    probabilities = np.stack(
        [0.35 + 0.3 * targets[:, 0] + noise[:, 0], 0.65 - 0.3 * targets[:, 1] + noise[:, 1] - 0.3],
        axis=1,
    )
    return targets, probabilities


def test_perfect_and_inverted_scores_give_auroc_one_and_zero_with_degenerate_intervals():
    targets, probabilities = _two_labels()

    report = evaluate_classifier(targets, probabilities, ["good", "inverted"], n_resamples=200)

    good, inverted = report.auroc["good"], report.auroc["inverted"]
    assert (good.mean, good.low, good.high) == (1.0, 1.0, 1.0)
    assert (inverted.mean, inverted.low, inverted.high) == (0.0, 0.0, 0.0)
    assert report.macro_auroc.mean == pytest.approx(0.5)
    assert good.n == 60


def test_random_scores_give_auroc_near_a_half_with_an_interval_around_it():
    rng = np.random.default_rng(3)
    targets = _balanced_targets(600)[:, None]
    probabilities = rng.uniform(size=(600, 1))

    estimate = evaluate_classifier(targets, probabilities, ["noise"], n_resamples=300).auroc[
        "noise"
    ]

    assert estimate.mean == pytest.approx(roc_auc_score(targets[:, 0], probabilities[:, 0]))
    assert abs(estimate.mean - 0.5) < 0.06
    assert estimate.low < 0.5 < estimate.high
    assert 0.05 < estimate.high - estimate.low < 0.15


def test_unknown_targets_are_left_out_whatever_their_scores():
    targets, probabilities = _two_labels(40)
    targets[:10, 0] = NAN
    scrambled = probabilities.copy()
    scrambled[:10, 0] = 1.0 - scrambled[:10, 0]

    first = evaluate_classifier(targets, probabilities, ["a", "b"], n_resamples=100)
    second = evaluate_classifier(targets, scrambled, ["a", "b"], n_resamples=100)

    assert first.auroc["a"] == second.auroc["a"]
    assert first.auroc["a"].n == 30
    assert first.positives["a"] + first.negatives["a"] == 30
    assert per_label_auroc(targets, probabilities)[0] == 1.0


def test_a_label_with_one_class_has_no_auroc_is_named_and_left_out_of_the_macro(caplog):
    targets, probabilities = _two_labels(40)
    targets[:, 1] = 0.0
    targets[:5, 1] = NAN

    with caplog.at_level(logging.WARNING, logger="medai.classification.metrics"):
        report = evaluate_classifier(targets, probabilities, ["a", "rare"], n_resamples=100)

    assert math.isnan(report.auroc["rare"].mean)
    assert report.undefined == ("rare",)
    assert "rare" not in report.roc
    assert report.macro_auroc.mean == 1.0
    assert "label 'rare': 0 positive and 35 negative images; its AUROC is undefined" in caplog.text
    assert math.isnan(macro_auroc(np.zeros((4, 1)), np.zeros((4, 1))))


def test_rank_auroc_equals_scikit_learn_with_ties():
    rng = np.random.default_rng(5)
    targets = _balanced_targets(101, seed=5)
    scores = np.round(rng.uniform(size=101) + 0.3 * targets, 1)

    assert rank_auroc(targets, scores) == pytest.approx(roc_auc_score(targets, scores), abs=1e-12)
    assert math.isnan(rank_auroc(np.ones(5), scores[:5]))


def test_macro_auroc_is_the_mean_of_the_defined_labels():
    targets, probabilities = _two_labels(50)
    probabilities[:, 1] = np.random.default_rng(7).uniform(size=50)
    per_label = per_label_auroc(targets, probabilities)

    assert macro_auroc(targets, probabilities) == pytest.approx(per_label.mean())
    report = evaluate_classifier(targets, probabilities, ["a", "b"], n_resamples=200)
    assert report.macro_auroc.mean == pytest.approx(per_label.mean())
    assert report.macro_auroc.low < report.macro_auroc.mean < report.macro_auroc.high


def test_sensitivity_and_specificity_at_one_threshold_and_per_label_thresholds():
    targets = np.array([[1, 1], [1, 1], [1, 0], [0, 0], [0, 0], [NAN, 1]], dtype=float)
    probabilities = np.array(
        [[0.9, 0.9], [0.6, 0.6], [0.2, 0.2], [0.7, 0.7], [0.1, 0.1], [0.99, 0.3]]
    )

    report = evaluate_classifier(
        targets, probabilities, ["a", "b"], thresholds={"a": 0.5, "b": 0.65}, n_resamples=50
    )

    assert report.sensitivity["a"].mean == pytest.approx(2 / 3)
    assert report.specificity["a"].mean == pytest.approx(1 / 2)
    assert report.sensitivity["b"].mean == pytest.approx(1 / 3)
    assert report.specificity["b"].mean == pytest.approx(2 / 3)
    assert report.thresholds == {"a": 0.5, "b": 0.65}
    one = evaluate_classifier(targets, probabilities, ["a", "b"], thresholds=0.05, n_resamples=50)
    assert one.sensitivity["b"].mean == 1.0
    assert one.specificity["b"].mean == 0.0
    assert one.sensitivity["a"].low <= one.sensitivity["a"].mean <= one.sensitivity["a"].high


def test_ece_and_reliability_bins_by_hand():
    targets = np.array([0, 0, 1, 1, 1, 0, NAN], dtype=float)
    probabilities = np.array([0.1, 0.2, 0.3, 0.8, 0.9, 1.0, 0.5])

    two = reliability_diagram(targets, probabilities, n_bins=2)
    four = reliability_diagram(targets, probabilities, n_bins=4)

    # Two bins: [0.1, 0.2, 0.3] has confidence 0.2 and 1/3 positive; [0.8, 0.9, 1.0] has 0.9
    # and 2/3: ECE = 0.5 * |1/3 - 0.2| + 0.5 * |2/3 - 0.9| = 0.18333.
    assert two.ece == pytest.approx(0.5 * (1 / 3 - 0.2) + 0.5 * (0.9 - 2 / 3))
    assert two.count.tolist() == [3, 3]
    assert two.confidence == pytest.approx([0.2, 0.9])
    assert two.accuracy == pytest.approx([1 / 3, 2 / 3])
    # Four bins: {0.1, 0.2} -> |0 - 0.15|, {0.3} -> |1 - 0.3|, {} , {0.8, 0.9, 1.0} -> |2/3 - 0.9|.
    assert four.ece == pytest.approx((2 * 0.15 + 0.7 + 3 * (0.9 - 2 / 3)) / 6)
    assert four.count.tolist() == [2, 1, 0, 3]
    assert math.isnan(four.confidence[2])
    assert math.isnan(four.accuracy[2])
    assert four.bin_edges.tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]


def test_perfectly_calibrated_bins_have_zero_ece_and_the_report_averages_labels():
    # Label a: 2/3 of the images at 2/3 are positive, the one at 1.0 is, the one at 0 is not.
    # Label b: 0.1 for three negatives (|0 - 0.1|), 0.9 for two positives (|1 - 0.9|).
    targets = np.array([[1, 0], [0, 0], [1, 1], [1, 1], [0, 0]], dtype=float)
    probabilities = np.array([[2 / 3, 0.1], [2 / 3, 0.1], [2 / 3, 0.9], [1.0, 0.9], [0.0, 0.1]])

    report = evaluate_classifier(targets, probabilities, ["a", "b"], n_bins=5, n_resamples=20)

    assert report.calibration["a"].ece == pytest.approx(0.0)
    assert report.calibration["b"].ece == pytest.approx(0.1)
    assert report.ece_mean == pytest.approx(0.05)


def test_roc_points_run_from_the_origin_to_the_corner():
    targets, probabilities = _two_labels(30)
    curve = roc_points(targets[:, 0], probabilities[:, 0])

    assert curve is not None
    assert (curve.fpr[0], curve.tpr[0]) == (0.0, 0.0)
    assert (curve.fpr[-1], curve.tpr[-1]) == (1.0, 1.0)
    assert np.all(np.diff(curve.fpr) >= 0)
    assert curve.auroc == 1.0
    assert roc_points(np.zeros(4), np.arange(4.0)) is None


def test_as_metrics_gives_flat_mlflow_names_per_label():
    targets, probabilities = _two_labels(20)

    metrics = evaluate_classifier(
        targets, probabilities, ["Pleural Effusion", "No-Finding"], n_resamples=20
    ).as_metrics()

    expected = {"n_images", "ece_mean"}
    for key in ("pleural_effusion", "no_finding"):
        expected |= {f"auroc_{key}_{s}" for s in ("mean", "ci_low", "ci_high")}
        expected |= {
            f"sensitivity_{key}",
            f"sensitivity_{key}_ci_low",
            f"sensitivity_{key}_ci_high",
        }
        expected |= {
            f"specificity_{key}",
            f"specificity_{key}_ci_low",
            f"specificity_{key}_ci_high",
        }
        expected |= {f"ece_{key}", f"positives_{key}"}
    expected |= {"auroc_macro_mean", "auroc_macro_ci_low", "auroc_macro_ci_high"}
    assert set(metrics) == expected
    assert metrics["auroc_pleural_effusion_mean"] == 1.0
    assert metrics["auroc_no_finding_mean"] == 0.0
    assert metrics["n_images"] == 20.0
    assert metrics["positives_no_finding"] == 10.0


def test_metric_names_are_identifiers_and_clashes_are_refused():
    assert metric_names(["Pleural Effusion", "Lung Opacity (any)"]) == [
        "pleural_effusion",
        "lung_opacity_any",
    ]
    with pytest.raises(ValueError, match="clashing metric names"):
        metric_names(["Lung opacity", "lung-opacity"])
    with pytest.raises(ValueError, match="has no letter or digit"):
        metric_names(["--"])


@pytest.mark.parametrize(
    ("targets", "probabilities", "kwargs", "message"),
    [
        (np.array([[2.0]]), np.array([[0.5]]), {}, "targets must be 1 .present., 0 .absent."),
        (np.zeros((3, 1)), np.zeros((3, 2)), {}, r"same shape, got \(3, 1\) and \(3, 2\)"),
        (np.zeros((2, 1)), np.array([[3.0], [-1.0]]), {}, "were logits passed"),
        (np.zeros((2, 1)), np.array([[NAN], [0.1]]), {}, "scores must be finite"),
        (np.zeros((2, 1)), np.zeros((2, 1)), {"thresholds": {"b": 0.5}}, r"missing \['a'\]"),
        (np.zeros((2, 1)), np.zeros((2, 1)), {"thresholds": 1.5}, "thresholds.a: expected"),
    ],
)
def test_invalid_inputs_are_refused_with_what_is_wrong(targets, probabilities, kwargs, message):
    with pytest.raises(ValueError, match=message):
        evaluate_classifier(targets, probabilities, ["a"], **kwargs)


def test_label_count_must_match_the_columns():
    with pytest.raises(ValueError, match="2 labels for 1 columns"):
        evaluate_classifier(np.zeros((2, 1)), np.zeros((2, 1)), ["a", "b"])
