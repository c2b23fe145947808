"""Percentile bootstrap confidence intervals for per-case metrics and whole-sample statistics.

A mean Dice over a dozen cases without an interval overstates what we know; the
interval is the honest figure to compare models by. ``bootstrap_ci`` handles means of
per-case values; ``bootstrap_statistic`` handles statistics that only exist over a set
of cases (AUROC, sensitivity), by resampling the cases themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class Estimate:
    """A mean with its confidence interval over ``n`` finite values.

    From ``bootstrap_statistic``, ``mean`` is the statistic on the whole sample (the point
    estimate) and ``n`` the number of cases it was computed over.
    """

    mean: float
    low: float
    high: float
    n: int
    confidence: float

    def as_dict(self, prefix: str) -> dict[str, float]:
        """Flat metric names for MLflow: ``<prefix>_mean``, ``_ci_low``, ``_ci_high``."""
        return {
            f"{prefix}_mean": self.mean,
            f"{prefix}_ci_low": self.low,
            f"{prefix}_ci_high": self.high,
        }


def bootstrap_ci(
    values: Sequence[float] | np.ndarray,
    *,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> Estimate:
    """Mean and percentile-bootstrap interval of the finite entries of ``values``.

    Non-finite values (e.g. HD95 of a case with an empty prediction) are left out and
    ``n`` says how many were used. One value gives a zero-width interval; none gives NaN.

    Raises:
        ValueError: ``confidence`` outside (0, 1) or ``n_resamples`` < 1.
    """
    _check_bootstrap_arguments(confidence, n_resamples)
    data = np.asarray(values, dtype=np.float64)
    data = data[np.isfinite(data)]
    if data.size == 0:
        nan = float("nan")
        return Estimate(nan, nan, nan, 0, confidence)
    mean = float(data.mean())
    if data.size == 1:
        return Estimate(mean, mean, mean, 1, confidence)
    rng = np.random.default_rng(seed)
    indices = rng.integers(0, data.size, size=(n_resamples, data.size))
    means = data[indices].mean(axis=1)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return Estimate(mean, float(low), float(high), int(data.size), confidence)


def bootstrap_statistic(
    statistic: Callable[[NDArray[np.intp]], float],
    n: int,
    *,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> Estimate:
    """Point estimate and percentile-bootstrap interval of a statistic over ``n`` cases.

    ``statistic`` receives the indices of the cases to use (``arange(n)`` for the point
    estimate, then ``n_resamples`` draws with replacement) and computes its figure over
    them, e.g. the AUROC of those images. A resample where the statistic is undefined
    (non-finite, e.g. the AUROC of a draw without a positive case) is left out of the
    percentiles: with a rare class the interval then rests on fewer draws.

    Args:
        statistic: Maps case indices to a float; NaN where undefined.
        n: Number of cases.
        confidence: Coverage of the interval, in (0, 1).
        n_resamples: Number of bootstrap draws.
        seed: Seed of the draws; the same seed gives the same interval.

    Returns:
        ``Estimate`` whose ``mean`` is ``statistic(arange(n))`` and ``n`` the case count.
        NaN throughout if ``n`` is 0 or the point estimate is undefined; a zero-width
        interval for one case; NaN bounds if no resample is defined.

    Raises:
        ValueError: ``confidence`` outside (0, 1), ``n_resamples`` < 1 or ``n`` < 0.
    """
    _check_bootstrap_arguments(confidence, n_resamples)
    if n < 0:
        raise ValueError(f"n must be zero or more cases, got {n}")
    nan = float("nan")
    if n == 0:
        return Estimate(nan, nan, nan, 0, confidence)
    point = float(statistic(np.arange(n, dtype=np.intp)))
    if not np.isfinite(point):
        return Estimate(nan, nan, nan, n, confidence)
    if n == 1:
        return Estimate(point, point, point, 1, confidence)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n, size=(n_resamples, n)).astype(np.intp)
    values = np.array([statistic(indices) for indices in draws], dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return Estimate(point, nan, nan, n, confidence)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(values, [alpha, 1.0 - alpha])
    return Estimate(point, float(low), float(high), n, confidence)


def _check_bootstrap_arguments(confidence: float, n_resamples: int) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be positive, got {n_resamples}")
