import math

import numpy as np
import pytest

from medai.metrics.bootstrap import Estimate, bootstrap_ci


def _dice(n, seed=0):
    return np.random.default_rng(seed).normal(0.8, 0.1, size=n)


def test_interval_contains_the_mean_of_the_values():
    values = _dice(30)

    estimate = bootstrap_ci(values)

    assert estimate.mean == pytest.approx(float(np.mean(values)))
    assert estimate.low < estimate.mean < estimate.high
    assert estimate.n == 30
    assert estimate.confidence == 0.95


def test_interval_is_narrower_with_more_data():
    small = bootstrap_ci(_dice(10))
    large = bootstrap_ci(_dice(1000))

    assert (large.high - large.low) < (small.high - small.low) / 3


def test_interval_is_narrower_at_lower_confidence():
    values = _dice(30)

    wide = bootstrap_ci(values, confidence=0.99)
    narrow = bootstrap_ci(values, confidence=0.5)

    assert wide.low < narrow.low < narrow.high < wide.high


def test_same_seed_gives_the_same_interval_and_another_seed_a_different_one():
    values = _dice(20)

    first = bootstrap_ci(values, seed=1)

    assert bootstrap_ci(values, seed=1) == first
    other = bootstrap_ci(values, seed=2)
    assert (other.low, other.high) != (first.low, first.high)
    assert other.mean == first.mean


def test_non_finite_values_are_left_out_and_not_counted():
    finite = [0.5, 0.7, 0.9, 0.6]

    estimate = bootstrap_ci([0.5, float("nan"), 0.7, float("inf"), 0.9, -float("inf"), 0.6])

    assert estimate.n == 4
    assert estimate.mean == pytest.approx(0.675)
    assert estimate == bootstrap_ci(finite)


def test_single_value_gives_a_zero_width_interval():
    assert bootstrap_ci([0.42, float("nan")]) == Estimate(0.42, 0.42, 0.42, 1, 0.95)


@pytest.mark.parametrize("values", [[], [float("nan"), float("inf")]])
def test_no_finite_values_give_nan_and_zero_count(values):
    estimate = bootstrap_ci(values)

    assert math.isnan(estimate.mean)
    assert math.isnan(estimate.low)
    assert math.isnan(estimate.high)
    assert estimate.n == 0


def test_identical_values_give_a_zero_width_interval():
    estimate = bootstrap_ci([0.3] * 10)

    assert (estimate.low, estimate.mean, estimate.high) == pytest.approx((0.3, 0.3, 0.3))


@pytest.mark.parametrize("confidence", [0.0, 1.0, -0.5, 95.0])
def test_confidence_outside_zero_one_is_an_error(confidence):
    with pytest.raises(ValueError, match=f"confidence must be between 0 and 1, got {confidence}"):
        bootstrap_ci([0.1, 0.2], confidence=confidence)


def test_non_positive_resample_count_is_an_error():
    with pytest.raises(ValueError, match="n_resamples must be positive, got 0"):
        bootstrap_ci([0.1, 0.2], n_resamples=0)


def test_as_dict_names_mean_and_interval_bounds():
    estimate = Estimate(mean=0.5, low=0.4, high=0.6, n=3, confidence=0.95)

    assert estimate.as_dict("val_dice") == {
        "val_dice_mean": 0.5,
        "val_dice_ci_low": 0.4,
        "val_dice_ci_high": 0.6,
    }
