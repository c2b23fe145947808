"""``medai.metrics.bootstrap_statistic``, added for the classification kit's AUROC intervals."""

import math

import numpy as np
import pytest

from medai.metrics import Estimate, bootstrap_ci, bootstrap_statistic


def test_the_mean_as_a_statistic_gives_exactly_bootstrap_ci():
    values = np.random.default_rng(0).normal(0.8, 0.1, 25)

    estimate = bootstrap_statistic(lambda i: float(values[i].mean()), 25, n_resamples=500, seed=3)

    assert estimate == bootstrap_ci(values, n_resamples=500, seed=3)


def test_the_statistic_receives_n_indices_and_the_point_estimate_uses_all_cases():
    seen = []

    def statistic(indices):
        seen.append(indices)
        return float(len(np.unique(indices)))

    estimate = bootstrap_statistic(statistic, 10, n_resamples=20)

    assert np.array_equal(seen[0], np.arange(10))
    assert all(s.dtype == np.intp and s.shape == (10,) for s in seen)
    assert len(seen) == 21
    assert estimate.mean == 10.0
    assert estimate.high <= 10.0
    assert estimate.low < 10.0
    assert estimate.n == 10


def test_undefined_resamples_are_left_out():
    values = np.arange(20, dtype=float)

    def defined_only_once(indices):
        return float(values[indices].mean()) if np.array_equal(indices, np.arange(20)) else math.nan

    def defined_half_the_time(indices):
        return math.nan if indices[0] % 2 else float(values[indices].mean())

    never = bootstrap_statistic(defined_only_once, 20, n_resamples=50)
    half = bootstrap_statistic(defined_half_the_time, 20, n_resamples=200)

    assert never.mean == pytest.approx(9.5)
    assert math.isnan(never.low)
    assert math.isnan(never.high)
    assert half.low < 9.5 < half.high


def test_no_cases_one_case_and_an_undefined_point_estimate():
    nan = bootstrap_statistic(lambda _: 1.0, 0)
    one = bootstrap_statistic(lambda _: 0.7, 1)
    undefined = bootstrap_statistic(lambda _: math.nan, 5)

    assert math.isnan(nan.mean)
    assert nan.n == 0
    assert one == Estimate(0.7, 0.7, 0.7, 1, 0.95)
    assert math.isnan(undefined.mean)
    assert math.isnan(undefined.low)
    assert undefined.n == 5


def test_same_seed_same_interval_other_seed_other_interval():
    values = np.random.default_rng(1).uniform(size=30)

    def statistic(indices):
        return float(np.median(values[indices]))

    first = bootstrap_statistic(statistic, 30, seed=1)

    assert bootstrap_statistic(statistic, 30, seed=1) == first
    assert bootstrap_statistic(statistic, 30, seed=2) != first


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": -1}, "n must be zero or more cases, got -1"),
        ({"n": 3, "confidence": 1.0}, "confidence must be between 0 and 1, got 1.0"),
        ({"n": 3, "n_resamples": 0}, "n_resamples must be positive, got 0"),
    ],
)
def test_invalid_arguments_are_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        bootstrap_statistic(lambda _: 1.0, **kwargs)
