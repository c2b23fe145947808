"""Evaluation summaries resample cases, and the registry learns the primary metric."""

from __future__ import annotations

import csv
import json

import pytest

from medai.metrics import Estimate
from medai.segmentation.evaluation import (
    PRIMARY_METRIC,
    CaseRow,
    _summaries,
    _write_local,
)
from medai.tracking.registry import evaluation_tags

ROWS = [
    CaseRow("a", "organ", 0.9, 2.0),
    CaseRow("a", "lesion", 0.5, float("nan")),
    CaseRow("b", "organ", 0.7, 4.0),
    CaseRow("b", "lesion", 0.3, 6.0),
]


@pytest.fixture
def summary(demo):
    return _summaries(ROWS, ["organ", "lesion"], demo.load("evaluate.bootstrap_resamples=200"))


def test_summaries_per_structure_and_over_cases(summary):
    assert set(summary) == {
        "dice_organ",
        "hd95_organ",
        "dice_lesion",
        "hd95_lesion",
        PRIMARY_METRIC,
    }
    assert summary["dice_organ"].mean == pytest.approx(0.8)
    assert summary["hd95_lesion"].n == 1  # the undefined HD95 is left out
    # Per-case means (0.7, 0.5) are what the CI resamples: n counts cases, not rows.
    assert summary[PRIMARY_METRIC].mean == pytest.approx(0.6)
    assert summary[PRIMARY_METRIC].n == 2


def test_version_tags_name_the_primary_metric_with_its_interval():
    estimate = Estimate(0.61234, 0.5, 0.7, 12, 0.95)
    tags = evaluation_tags(PRIMARY_METRIC, estimate, "run-1", "digest-1")
    assert tags == {
        "eval.primary_metric": "dice_foreground",
        "eval.dice_foreground_mean": "0.6123",
        "eval.dice_foreground_ci_low": "0.5000",
        "eval.dice_foreground_ci_high": "0.7000",
        "eval.run_id": "run-1",
        "eval.data_digest": "digest-1",
    }


def test_local_report_has_the_table_and_the_summary(summary, tmp_path):
    columns = ["case_id", "label", "dice", "hd95_mm"]
    table, summary_path = _write_local(tmp_path / "report", ROWS, summary, columns)

    with table.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["case_id"] for r in rows] == ["a", "a", "b", "b"]
    assert rows[1]["hd95_mm"] == "nan"
    written = json.loads(summary_path.read_text(encoding="utf-8"))
    assert written[PRIMARY_METRIC]["n"] == 2
