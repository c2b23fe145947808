"""What `invoke train` says about its new version against the previous challenger and champion."""

from __future__ import annotations

import pytest

from medai.tracking.comparison import VersionFigure, comparison_lines

KEEPS_SERVING = (
    ": the champion v5 keeps serving; `uv run invoke deploy --project=ct-seg` promotes this "
    "version only if it beats the champion on the evaluation set"
)
NO_CHAMPION_NEXT = (
    ": production serves nothing until `uv run invoke deploy --project=ct-seg` promotes a "
    "champion; development serves this challenger with a warning"
)


def lines(new: float | None, previous=None, champion=None) -> tuple[str, str]:
    return comparison_lines(
        project="ct-seg",
        model="ct-seg",
        metric="best_val_dice_mean",
        new=VersionFigure("8", new),
        previous=previous,
        champion=champion,
    )


@pytest.mark.parametrize(
    ("new", "previous", "champion", "expected"),
    [
        (
            0.031,
            VersionFigure("7", 0.929),
            VersionFigure("5", 0.931),
            (
                (
                    "ct-seg version 8: best_val_dice_mean 0.031; previous challenger v7 0.929 "
                    "(-0.898), champion v5 0.931 (-0.900)"
                ),
                "worse than both" + KEEPS_SERVING,
            ),
        ),
        (
            0.95,
            VersionFigure("7", 0.929),
            VersionFigure("5", 0.931),
            (
                (
                    "ct-seg version 8: best_val_dice_mean 0.950; previous challenger v7 0.929 "
                    "(+0.021), champion v5 0.931 (+0.019)"
                ),
                "better than both" + KEEPS_SERVING,
            ),
        ),
        (
            0.930,
            VersionFigure("7", 0.929),
            VersionFigure("5", 0.931),
            (
                (
                    "ct-seg version 8: best_val_dice_mean 0.930; previous challenger v7 0.929 "
                    "(+0.001), champion v5 0.931 (-0.001)"
                ),
                "better than the previous challenger, worse than the champion" + KEEPS_SERVING,
            ),
        ),
        (
            0.5,
            VersionFigure("5", 0.931),
            VersionFigure("5", 0.931),
            (
                (
                    "ct-seg version 8: best_val_dice_mean 0.500; previous challenger and champion "
                    "v5 0.931 (-0.431)"
                ),
                "worse than the champion" + KEEPS_SERVING,
            ),
        ),
        (
            0.931,
            None,
            VersionFigure("5", 0.931),
            (
                (
                    "ct-seg version 8: best_val_dice_mean 0.931; no previous challenger, "
                    "champion v5 0.931 (+0.000)"
                ),
                "as good as the champion" + KEEPS_SERVING,
            ),
        ),
    ],
)
def test_the_new_version_is_compared_with_previous_challenger_and_champion(
    new, previous, champion, expected
):
    assert lines(new, previous, champion) == expected


def test_with_no_champion_the_lines_say_so_and_what_production_needs():
    assert lines(0.9) == (
        "ct-seg version 8: best_val_dice_mean 0.900; no previous challenger, no champion yet",
        "no champion yet" + NO_CHAMPION_NEXT,
    )
    assert lines(0.031, VersionFigure("7", 0.929)) == (
        (
            "ct-seg version 8: best_val_dice_mean 0.031; previous challenger v7 0.929 (-0.898), "
            "no champion yet"
        ),
        "worse than the previous challenger" + NO_CHAMPION_NEXT,
    )


def test_a_missing_metric_is_unknown_and_not_compared():
    figures, verdict = lines(None, VersionFigure("7", 0.929), VersionFigure("5", None))
    assert figures == (
        "ct-seg version 8: best_val_dice_mean unknown; previous challenger v7 0.929, "
        "champion v5 unknown"
    )
    assert verdict == "not comparable with either" + KEEPS_SERVING
