"""Percentile bootstrap confidence intervals for per-case metrics.

A mean Dice over a dozen cases without an interval overstates what we know; the
interval is the honest figure to compare models by.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Estimate:
    """A mean with its confidence interval over ``n`` finite values."""

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
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be positive, got {n_resamples}")
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
