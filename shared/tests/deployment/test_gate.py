"""The promotion rule on its own: beat the champion on the primary metric, regress on none."""

from __future__ import annotations

import math

import pytest

from medai.config import DeploySettings
from medai.deployment import GateMetric, GateScores, decide


def scores(version: str, dice: float, hd95: float = 2.0, digest: str = "d1") -> GateScores:
    return GateScores(
        version,
        "dice_foreground",
        {
            "dice_foreground": GateMetric(dice),
            "hd95_organ": GateMetric(hd95, higher_is_better=False),
        },
        digest,
    )


def test_a_first_deployment_is_allowed_and_says_so():
    decision = decide(scores("1", 0.80), None, DeploySettings())
    assert decision.promote
    assert decision.reason.startswith("first deployment: no champion yet (dice_foreground 0.8000")


def test_a_better_challenger_is_promoted():
    decision = decide(scores("2", 0.91), scores("1", 0.90), DeploySettings())
    assert decision.promote
    assert "beats champion v1 on dice_foreground: 0.9100 vs 0.9000" in decision.reason


@pytest.mark.parametrize("dice", [0.90, 0.89])
def test_an_equal_or_worse_challenger_is_refused(dice):
    decision = decide(scores("2", dice), scores("1", 0.90), DeploySettings())
    assert not decision.promote
    assert f"does not beat champion v1 on dice_foreground: {dice:.4f} vs 0.9000" in decision.reason


def test_the_minimum_improvement_is_applied():
    settings = DeploySettings(min_improvement=0.02)
    assert not decide(scores("2", 0.91), scores("1", 0.90), settings).promote
    assert decide(scores("2", 0.93), scores("1", 0.90), settings).promote


def test_a_regression_on_a_lower_is_better_metric_beyond_tolerance_is_refused():
    # 5% of 2.0 mm is 0.1 mm: 2.3 mm is too much worse, 2.05 mm is fine.
    refused = decide(scores("2", 0.95, hd95=2.3), scores("1", 0.90, hd95=2.0), DeploySettings())
    assert not refused.promote
    assert "worse than champion v1 on hd95_organ: 2.3000 vs 2.0000 (tolerance 0.1000)" in (
        refused.reason
    )
    assert decide(scores("2", 0.95, hd95=2.05), scores("1", 0.90), DeploySettings()).promote


def test_per_metric_tolerances_override_the_default():
    settings = DeploySettings(tolerances={"hd95_organ": 0.5})
    assert decide(scores("2", 0.95, hd95=2.9), scores("1", 0.90, hd95=2.0), settings).promote


def test_versions_scored_on_different_data_are_not_compared():
    decision = decide(scores("2", 0.99, digest="d2"), scores("1", 0.90), DeploySettings())
    assert not decision.promote
    assert decision.reason == "the two versions were evaluated on different data"


def test_a_challenger_without_a_finite_primary_metric_is_refused():
    assert not decide(scores("2", math.nan), None, DeploySettings()).promote


def test_scores_must_contain_their_primary_metric():
    with pytest.raises(ValueError, match="primary metric 'auroc' missing"):
        GateScores("1", "auroc", {"dice": GateMetric(0.5)})
