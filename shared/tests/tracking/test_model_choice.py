"""The rule for which registered version a command may use, environment by environment."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from medai.config import ApiSettings
from medai.serving.bundle import ModelCard
from medai.testing import packages_loaded_by
from medai.tracking.errors import ModelNotFoundError, ModelRefusedError
from medai.tracking.model_choice import (
    CHAMPION,
    SERVE_NAMING,
    VALIDATION_METRIC_TAG,
    MetricReading,
    ModelChoice,
    ModelRequest,
    card_metric,
    check_served_card,
    choose,
    fallback_warning,
)

NO_CHAMPION = (
    "production serves only the champion; ct-seg has no champion{found}: promote one with "
    "`uv run invoke deploy --project=ct-seg`, or name one with {naming}"
)


def request(environment: str = "development", **changes: object) -> ModelRequest:
    fields: dict[str, object] = {
        "model": "ct-seg",
        "project": "ct-seg",
        "environment": environment,
        "primary": "champion",
        "fallback": "challenger",
        "naming": SERVE_NAMING,
        **changes,
    }
    return ModelRequest(**fields)  # type: ignore[arg-type]


BOTH = {"champion": "5", "challenger": "7"}
CHALLENGER_ONLY = {"challenger": "7"}


@pytest.mark.parametrize(
    ("environment", "present", "changes", "expected"),
    [
        # Nothing named: the champion wherever it exists.
        ("development", BOTH, {}, ModelChoice("5", "champion")),
        ("production", BOTH, {}, ModelChoice("5", "champion")),
        # No champion: the challenger outside production only, marked as a fallback.
        ("development", CHALLENGER_ONLY, {}, ModelChoice("7", "challenger", fallback=True)),
        ("test", CHALLENGER_ONLY, {}, ModelChoice("7", "challenger", fallback=True)),
        # Named explicitly: used in every environment, never a fallback.
        ("production", CHALLENGER_ONLY, {"alias": "challenger"}, ModelChoice("7", "challenger")),
        ("production", {}, {"version": "3"}, ModelChoice("3", None)),
        ("production", BOTH, {"version": "3"}, ModelChoice("3", None)),
        # A configured primary (staging serves the candidate) is explicit too ...
        (
            "production",
            CHALLENGER_ONLY,
            {"primary": "challenger", "fallback": "champion"},
            ModelChoice("7", "challenger"),
        ),
        # ... and falling back to the champion is safe even in production.
        (
            "production",
            {"champion": "5"},
            {"primary": "challenger", "fallback": "champion"},
            ModelChoice("5", "champion", fallback=True),
        ),
    ],
)
def test_the_version_chosen_by_environment_aliases_present_and_what_was_named(
    environment, present, changes, expected
):
    assert choose(request(environment, **changes), present) == expected


@pytest.mark.parametrize(
    ("present", "changes", "line"),
    [
        (
            CHALLENGER_ONLY,
            {},
            NO_CHAMPION.format(
                found=" (challenger version 7 is not promoted)", naming="--alias/--version"
            ),
        ),
        ({}, {}, NO_CHAMPION.format(found="", naming="--alias/--version")),
        (
            CHALLENGER_ONLY,
            {"naming": "--alias"},
            NO_CHAMPION.format(found=" (challenger version 7 is not promoted)", naming="--alias"),
        ),
        (
            {"candidate": "7"},
            {"primary": "blessed", "fallback": "candidate"},
            (
                "production serves only the blessed; ct-seg has no blessed (candidate version 7 "
                "is not promoted): point alias 'blessed' at a version, or name one with "
                "--alias/--version"
            ),
        ),
    ],
)
def test_production_without_the_primary_refuses_with_one_line_saying_how_to_fix_it(
    present, changes, line
):
    with pytest.raises(ModelRefusedError) as caught:
        choose(request("production", **changes), present)
    assert str(caught.value) == line
    assert "\n" not in line


@pytest.mark.parametrize(
    ("environment", "changes", "tried"),
    [
        ("development", {}, "champion, challenger"),
        ("production", {"alias": "staging"}, "staging"),
        ("production", {"fallback": None}, "champion"),
        ("development", {"fallback": "champion"}, "champion"),
    ],
)
def test_no_version_behind_any_alias_tried_is_not_found_naming_them(environment, changes, tried):
    with pytest.raises(ModelNotFoundError) as caught:
        choose(request(environment, **changes), {})
    assert type(caught.value) is ModelNotFoundError
    assert str(caught.value) == (
        f"registered model 'ct-seg' has no version with alias {tried}; train one first"
    )


@given(
    environment=st.sampled_from(["development", "production", "staging", "test"]),
    primary=st.sampled_from(["champion", "challenger", "blessed"]),
    fallback=st.sampled_from([None, "champion", "challenger", "candidate"]),
    present=st.dictionaries(
        st.sampled_from(["champion", "challenger", "blessed", "candidate"]),
        st.integers(1, 9).map(str),
    ),
)
def test_production_never_uses_an_alias_it_was_not_given_except_the_champion(
    environment, primary, fallback, present
):
    asked = request(environment, primary=primary, fallback=fallback)
    try:
        choice = choose(asked, present)
    except ModelNotFoundError:
        return
    assert choice.alias in {primary, fallback}
    assert choice.version == present[str(choice.alias)]
    assert choice.fallback == (choice.alias != primary)
    if environment == "production":
        assert choice.alias in {primary, CHAMPION}


def test_only_a_fallback_to_something_but_the_champion_needs_a_warning():
    assert ModelChoice("7", "challenger", fallback=True).needs_warning
    assert not ModelChoice("5", "champion", fallback=True).needs_warning
    assert not ModelChoice("7", "challenger").needs_warning


def test_the_fallback_warning_names_version_alias_and_metric():
    line = fallback_warning(
        request(),
        ModelChoice("7", "challenger", fallback=True),
        MetricReading("best_val_dice_mean", 0.0312),
    )
    assert line == (
        "no champion for ct-seg; serving challenger version 7 (best_val_dice_mean 0.031) "
        "- not promoted by `invoke deploy`"
    )


@pytest.mark.parametrize(
    ("reading", "text"),
    [
        (MetricReading("best_val_auroc_macro", 0.9), "best_val_auroc_macro 0.900"),
        (MetricReading("best_val_dice_mean", None), "best_val_dice_mean unknown"),
        (MetricReading(None, None), "validation metric unknown"),
    ],
)
def test_a_missing_metric_reads_unknown(reading, text):
    assert str(reading) == text


def card(alias: str | None, **tags: str) -> ModelCard:
    return ModelCard(name="ct-seg", version="7", alias=alias, tags=tags)


API = ApiSettings()
FOLDER = Path("/models/ct-seg/7")


@pytest.mark.parametrize(
    ("alias", "api"),
    [
        ("champion", API),
        (None, API),  # named by version
        ("challenger", ApiSettings(model_alias="challenger", fallback_alias=None)),  # --alias
        ("champion", ApiSettings(model_alias="challenger", fallback_alias="champion")),
    ],
)
def test_the_server_starts_in_production_on_a_named_or_promoted_version(alias, api):
    assert check_served_card(card(alias), FOLDER, environment="production", api=api) is None


@pytest.mark.parametrize("alias", ["challenger", "staging"])
def test_the_server_refuses_in_production_a_folder_holding_an_unnamed_version(alias):
    with pytest.raises(ModelRefusedError) as caught:
        check_served_card(card(alias), FOLDER, environment="production", api=API)
    assert str(caught.value) == (
        f"production serves only the champion: {FOLDER} holds ct-seg version 7 through alias "
        f"'{alias}'; materialize the champion with `uv run invoke serve --materialize-only`, "
        f"or name that alias with MEDAI__API__MODEL_ALIAS={alias}"
    )


def test_the_development_server_warns_about_a_fallback_folder_with_its_metric():
    tags = {VALIDATION_METRIC_TAG: "best_val_dice_mean", "best_val_dice_mean": "0.0312"}
    warning = check_served_card(
        card("challenger", **tags), FOLDER, environment="development", api=API
    )
    assert warning == (
        "no champion for ct-seg; serving challenger version 7 (best_val_dice_mean 0.031) "
        "- not promoted by `invoke deploy`"
    )


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ({}, MetricReading(None, None)),
        ({VALIDATION_METRIC_TAG: "dice"}, MetricReading("dice", None)),
        ({VALIDATION_METRIC_TAG: "dice", "dice": "n/a"}, MetricReading("dice", None)),
        ({VALIDATION_METRIC_TAG: "dice", "dice": "0.5"}, MetricReading("dice", 0.5)),
    ],
)
def test_a_card_metric_is_read_from_its_tags_or_unknown(tags, expected):
    assert card_metric(card("challenger", **tags)) == expected


def test_the_rule_loads_neither_mlflow_nor_fastapi():
    """The server and every command import it: it must stay light."""
    loaded = packages_loaded_by(
        ["medai.tracking.model_choice"], watch={"mlflow", "fastapi", "torch"}
    )
    assert loaded == set()
