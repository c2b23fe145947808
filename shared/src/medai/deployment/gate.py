"""The promotion decision: pure comparison of two versions' metrics, no MLflow.

Kept apart from the registry calls so the rule a clinical team signs off on can be read
and tested on its own: the challenger must beat the champion on the primary metric and
may not be worse on any other gate metric beyond its tolerance.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from medai.config import DeploySettings


@dataclass(frozen=True)
class GateMetric:
    """One figure the gate compares.

    Attributes:
        value: The version's value on the frozen evaluation set.
        higher_is_better: Dice and AUROC yes; HD95 and calibration error no.
    """

    value: float
    higher_is_better: bool = True


@dataclass(frozen=True)
class GateScores:
    """A version's metrics on the frozen evaluation set.

    Attributes:
        version: The model version.
        primary: Name of the metric models are ranked by (must be in ``metrics``).
        metrics: Every gate metric by name.
        data_digest: Digest of the evaluation set, so both sides are shown to be comparable.
    """

    version: str
    primary: str
    metrics: Mapping[str, GateMetric] = field(default_factory=dict)
    data_digest: str = ""

    def __post_init__(self) -> None:
        """Refuse scores that do not contain their own primary metric."""
        if self.primary not in self.metrics:
            raise ValueError(f"primary metric {self.primary!r} missing from {sorted(self.metrics)}")

    def values(self) -> dict[str, float]:
        """Metric name -> value, for tags and messages."""
        return {name: round(m.value, 6) for name, m in self.metrics.items()}


@dataclass(frozen=True)
class Decision:
    """Whether to promote, and the one-line reason either way."""

    promote: bool
    reason: str


def _fmt(value: float) -> str:
    return f"{value:.4f}"


def _comparability_problem(challenger: GateScores, champion: GateScores) -> str | None:
    if champion.primary != challenger.primary:
        return (
            f"champion is ranked by {champion.primary!r}, challenger by {challenger.primary!r}; "
            "evaluate both with the same code"
        )
    if challenger.data_digest and champion.data_digest != challenger.data_digest:
        return "the two versions were evaluated on different data"
    return None


def _regression(
    challenger: GateScores, champion: GateScores, settings: DeploySettings
) -> str | None:
    """The first secondary metric on which the challenger is worse beyond tolerance."""
    for name, metric in sorted(challenger.metrics.items()):
        if name == challenger.primary or name not in champion.metrics:
            continue
        reference = champion.metrics[name].value
        if not (math.isfinite(metric.value) and math.isfinite(reference)):
            continue
        allowed = settings.tolerances.get(name, settings.tolerance) * abs(reference)
        worse = reference - metric.value if metric.higher_is_better else metric.value - reference
        if worse > allowed:
            return (
                f"challenger v{challenger.version} is worse than champion v{champion.version} on "
                f"{name}: {_fmt(metric.value)} vs {_fmt(reference)} (tolerance {_fmt(allowed)})"
            )
    return None


def decide(
    challenger: GateScores, champion: GateScores | None, settings: DeploySettings
) -> Decision:
    """Apply the gate.

    Args:
        challenger: Scores of the version that wants the ``champion`` alias.
        champion: Scores of the current champion, or None when there is none yet.
        settings: Minimum improvement and tolerances.

    Returns:
        A decision whose reason names the metric and both values when it refuses.
    """
    primary = challenger.primary
    new = challenger.metrics[primary]
    if not math.isfinite(new.value):
        return Decision(promote=False, reason=f"challenger's {primary} is {new.value}; no rank")
    if champion is None:
        return Decision(
            promote=True, reason=f"first deployment: no champion yet ({primary} {_fmt(new.value)})"
        )
    problem = _comparability_problem(challenger, champion)
    if problem is not None:
        return Decision(promote=False, reason=problem)
    old = champion.metrics[primary]
    gain = (new.value - old.value) if new.higher_is_better else (old.value - new.value)
    if not gain > settings.min_improvement:
        return Decision(
            promote=False,
            reason=f"challenger v{challenger.version} does not beat champion "
            f"v{champion.version} on {primary}: {_fmt(new.value)} vs {_fmt(old.value)} "
            f"(needs an improvement > {settings.min_improvement:g})",
        )
    regression = _regression(challenger, champion, settings)
    if regression is not None:
        return Decision(promote=False, reason=regression)
    return Decision(
        promote=True,
        reason=f"challenger v{challenger.version} beats champion v{champion.version} on "
        f"{primary}: {_fmt(new.value)} vs {_fmt(old.value)}, within tolerance on the others",
    )
