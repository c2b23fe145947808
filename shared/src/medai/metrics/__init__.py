"""Statistics every project reports the same way."""

from medai.metrics.bootstrap import Estimate, bootstrap_ci, bootstrap_statistic

__all__ = ["Estimate", "bootstrap_ci", "bootstrap_statistic"]
