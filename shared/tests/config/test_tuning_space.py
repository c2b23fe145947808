"""The ``tune`` section: a search space is checked like every config, key by key."""

import json
import math

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import Field, model_validator

from medai.config import ConfigError, ProjectSettings, Section, load_settings
from medai.config.tuning import (
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
    distribution_problem,
)

DEVELOPMENT = "projects/demo/configs/development.yaml"


class TrainSettings(Section):
    learning_rate: float = Field(default=1e-3, gt=0)
    batch_size: int = Field(default=4, ge=1, le=64)
    optimizer: str = "adam"
    augment: bool = True
    scheduler: str | None = None


class ModelSettings(Section):
    channels: tuple[int, ...] = (8, 16)
    norm: str = "batch"
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0)


class DemoSettings(ProjectSettings):
    train: TrainSettings = TrainSettings()
    model: ModelSettings = ModelSettings()


class CrossChecked(DemoSettings):
    @model_validator(mode="after")
    def _batch_norm_fits(self):
        if self.train.batch_size > 16 and self.model.norm == "batch":
            raise ValueError("batch norm needs train.batch_size <= 16")
        return self


GOOD_SPACE = {
    "train.learning_rate": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
    "train.batch_size": {"type": "int", "low": 2, "high": 8, "step": 2},
    "model.norm": {"type": "categorical", "choices": ["batch", "instance"]},
}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A fake monorepo whose development config declares GOOD_SPACE."""
    root = tmp_path_factory.mktemp("repo")
    configs = root / "projects" / "demo" / "configs"
    configs.mkdir(parents=True)
    (configs / "base.yaml").write_text(
        yaml.safe_dump({"project": "demo", "docker": {"image": "demo"}}), encoding="utf-8"
    )
    (configs / "development.yaml").write_text(
        yaml.safe_dump({"tune": {"space": GOOD_SPACE}}), encoding="utf-8"
    )
    return root


def _load(root, *overrides):
    project = root / "projects" / "demo"
    return load_settings(DemoSettings, project, root, overrides=overrides, environ={})


def _with_space(root, space):
    """Load with the whole space replaced by ``space`` (as one --set value)."""
    return _load(root, f"tune.space={json.dumps(space)}")


def _refusal(root, space) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        _with_space(root, space)
    return caught.value


def test_a_declared_space_loads_into_distributions(demo):
    tune = _load(demo).tune
    parsed = tune.distributions()
    assert parsed["train.learning_rate"] == FloatDistribution(
        type="float", low=1e-4, high=1e-2, log=True
    )
    assert parsed["train.batch_size"] == IntDistribution(type="int", low=2, high=8, step=2)
    assert parsed["model.norm"] == CategoricalDistribution(
        type="categorical", choices=("batch", "instance")
    )
    assert tune.direction == "maximize"


def test_no_space_by_default(demo):
    root = demo
    assert _load(root, "tune.space={}").tune.space == {}


@pytest.mark.parametrize(
    ("space", "key", "expected"),
    [
        (
            {"train.lerning_rate": {"type": "float", "low": 0.1, "high": 0.2}},
            "train.lerning_rate",
            "unknown config key 'train.lerning_rate': no 'lerning_rate' in train",
        ),
        (
            {"nope.x": {"type": "int", "low": 1, "high": 2}},
            "nope.x",
            "no 'nope' in the top level",
        ),
        (
            {"train": {"type": "int", "low": 1, "high": 2}},
            "train",
            "train is a section; name one of its keys",
        ),
        (
            {"train.batch_size": {"type": "float", "low": 2, "high": 8}},
            "train.batch_size",
            "got a float distribution (train.batch_size takes int values; use type: int)",
        ),
        (
            {"train.augment": {"type": "int", "low": 0, "high": 1}},
            "train.augment",
            "got an int distribution (train.augment takes bool values; use type: categorical)",
        ),
        (
            {"model.norm": {"type": "categorical", "choices": ["batch", 3]}},
            "model.norm",
            "expected choices of the field's type (model.norm takes str values), got 3 (int)",
        ),
        (
            {"train.learning_rate": {"type": "float", "low": 0.1, "high": 0.01}},
            "train.learning_rate",
            "needs low < high, got low=0.1, high=0.01",
        ),
        (
            {"train.learning_rate": {"type": "float", "low": 0.0, "high": 0.1, "log": True}},
            "train.learning_rate",
            "log: true needs low > 0, got low=0.0",
        ),
        (
            {"train.batch_size": {"type": "int", "low": 2, "high": 9, "step": 2}},
            "train.batch_size",
            "step 2 must divide high - low = 7",
        ),
        (
            {"model.dropout": {"type": "float", "low": 0.0, "high": 0.5, "step": 0.2}},
            "model.dropout",
            "step 0.2 must divide high - low = 0.5",
        ),
        (
            {"model.norm": {"type": "categorical", "choices": []}},
            "model.norm",
            "choices must name at least one value, got []",
        ),
        (
            {"train.batch_size": {"type": "int", "low": 0, "high": 8}},
            "train.batch_size",
            "bound 0 is refused by train.batch_size: Input should be greater than or equal to 1",
        ),
        (
            {"model.dropout": {"type": "float", "low": 0.0, "high": 1.0}},
            "model.dropout",
            "bound 1.0 is refused by model.dropout: Input should be less than 1",
        ),
        (
            {"train.learning_rate": {"type": "normal", "low": 0.0, "high": 1.0}},
            "train.learning_rate",
            "type must be one of float, int, categorical, got 'normal'",
        ),
        (
            {"train.learning_rate": {"type": "float", "low": 0.1, "hihg": 0.2}},
            "train.learning_rate",
            "high is missing",
        ),
        (
            {"train.learning_rate": {"type": "float", "low": 0.1, "high": 0.2, "steps": 2}},
            "train.learning_rate",
            "unknown key 'steps' of a float distribution (allowed: type, low, high, log, step)",
        ),
        (
            {"tune.sampler_seed": {"type": "int", "low": 0, "high": 4}},
            "tune.sampler_seed",
            "the search cannot tune its own tune section",
        ),
    ],
)
def test_a_bad_space_is_one_line_naming_the_key_expected_and_got(demo, space, key, expected):
    error = _refusal(demo, space)
    assert error.key == f"tune.space.{key}"
    assert expected in error.problem
    assert str(error).startswith("--set tune.space=")
    assert "\n" not in str(error)


def test_the_layer_that_declared_a_bad_key_is_blamed(tmp_path):
    configs = tmp_path / "projects" / "demo" / "configs"
    configs.mkdir(parents=True)
    (configs / "base.yaml").write_text(
        yaml.safe_dump({"project": "demo", "docker": {"image": "demo"}}), encoding="utf-8"
    )
    space = {"train.epochs": {"type": "int", "low": 1, "high": 4}}
    (configs / "development.yaml").write_text(
        yaml.safe_dump({"tune": {"space": space}}), encoding="utf-8"
    )
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path)
    expected = f"{DEVELOPMENT}: tune.space.train.epochs: unknown config key"
    assert str(caught.value).startswith(expected)


def test_a_nested_space_key_says_keys_are_written_whole(demo):
    error = _refusal(demo, {"train": {"learning_rate": {"type": "float", "low": 0.1, "high": 1}}})
    assert error.key == "tune.space.train"
    assert "a space key is a whole dotted config key" in error.problem


def _cross_checked(root, *overrides):
    project = root / "projects" / "demo"
    return load_settings(CrossChecked, project, root, overrides=overrides, environ={})


def test_a_bound_that_breaks_a_check_across_keys_is_refused_at_its_key(demo):
    space = {"train.batch_size": {"type": "int", "low": 4, "high": 32, "step": 4}}
    with pytest.raises(ConfigError) as caught:
        _cross_checked(demo, f"tune.space={json.dumps(space)}")
    assert caught.value.key == "tune.space.train.batch_size"
    assert caught.value.problem == (
        "bound 32 is refused by train.batch_size: batch norm needs train.batch_size <= 16"
    )


def test_settings_that_fail_their_own_check_report_that_check_not_the_space(demo):
    with pytest.raises(ConfigError) as caught:
        _cross_checked(demo, "train.batch_size=32")  # GOOD_SPACE declared as well
    assert "batch norm needs train.batch_size <= 16" in str(caught.value)
    assert "tune.space" not in str(caught.value)


def test_grace_period_must_exceed_the_heartbeat(demo):
    with pytest.raises(ConfigError, match="grace_s"):
        _load(demo, "tune.heartbeat_s=10", "tune.grace_s=10")


# --- Properties ----------------------------------------------------------------------

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
WITH_REPO = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@FAST
@given(low=finite, high=finite, log=st.booleans())
def test_float_ranges_load_exactly_when_low_is_below_high_and_log_is_positive(low, high, log):
    raw = {"type": "float", "low": low, "high": high, "log": log}
    problem = distribution_problem(raw)
    if low < high and (not log or low > 0):
        assert problem is None
        assert FloatDistribution.model_validate(raw).bounds() == (low, high)
    elif low >= high:
        assert problem == f"needs low < high, got low={low!r}, high={high!r}"
    else:
        assert problem == f"log: true needs low > 0, got low={low!r}"


@FAST
@given(low=st.integers(-1000, 1000), width=st.integers(-5, 200), step=st.integers(1, 50))
def test_an_int_step_is_accepted_exactly_when_it_divides_the_range(low, width, step):
    high = low + width
    problem = distribution_problem({"type": "int", "low": low, "high": high, "step": step})
    if width <= 0:
        assert problem is not None
        assert problem.startswith("needs low < high")
    elif width % step:
        assert problem is not None
        assert problem.startswith(f"step {step} must divide high - low = {width}")
    else:
        assert problem is None


@FAST
@given(
    low=st.floats(min_value=-100, max_value=100, allow_nan=False),
    steps=st.integers(1, 40),
    step=st.sampled_from([0.5, 0.25, 0.1, 0.05, 1.0, 2.0]),
)
def test_a_float_step_that_divides_the_range_is_accepted(low, steps, step):
    high = low + steps * step
    if not low < high or math.isclose(low, high):
        return
    assert distribution_problem({"type": "float", "low": low, "high": high, "step": step}) is None


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(-5, 5, allow_nan=False),
    st.text(max_size=4),
)


@FAST
@given(choices=st.lists(scalars, max_size=6))
def test_choices_load_exactly_when_they_are_distinct_and_not_empty(choices):
    problem = distribution_problem({"type": "categorical", "choices": choices})
    distinct = len({(type(c), c) for c in choices}) == len(choices)
    if not choices:
        assert problem == "choices must name at least one value, got []"
    elif not distinct:
        assert problem is not None
        assert "choices must be distinct" in problem
    else:
        assert problem is None


identifiers = st.from_regex(r"[a-z][a-z_]{0,10}", fullmatch=True)


@WITH_REPO
@given(section=st.sampled_from(["train", "model"]), name=identifiers)
def test_every_key_the_settings_lack_is_refused_as_unknown(demo, section, name):
    known = (TrainSettings if section == "train" else ModelSettings).model_fields
    space = {f"{section}.{name}": {"type": "categorical", "choices": ["a"]}}
    if name in known:
        return
    error = _refusal(demo, space)
    assert error.key == f"tune.space.{section}.{name}"
    assert error.problem.startswith(f"unknown config key '{section}.{name}'")


@WITH_REPO
@given(low=st.integers(-3, 70), width=st.integers(1, 10))
def test_an_int_range_loads_exactly_when_the_field_takes_both_bounds(demo, low, width):
    high = low + width
    space = {"train.batch_size": {"type": "int", "low": low, "high": high}}
    if low >= 1 and high <= 64:
        assert _with_space(demo, space).tune.distributions()["train.batch_size"].bounds() == (
            low,
            high,
        )
    else:
        error = _refusal(demo, space)
        refused = high if 1 <= low <= 64 else low  # the first bound out of range
        assert error.problem.startswith(f"bound {refused} is refused by train.batch_size")
