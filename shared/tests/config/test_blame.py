"""The layer a config error names is the layer that supplied the failing value."""

import json
import tempfile
from pathlib import Path
from typing import Literal

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import Field, model_validator

from medai.config import ConfigError, ProjectSettings, Section, load_settings

MONOREPO_BASE = "configs/base.yaml"
BASE = "projects/demo/configs/base.yaml"
MODEL_FILE = "projects/demo/configs/model_configs/demo.yaml"
DEVELOPMENT = "projects/demo/configs/development.yaml"
ENV_VAR = "env"
SET = "set"
LAYERS = (MONOREPO_BASE, BASE, MODEL_FILE, DEVELOPMENT, ENV_VAR, SET)
"""Every kind of layer, in the order they apply."""
WINDOW_HIGH = 10.0


class TrainSettings(Section):
    epochs: int = Field(default=10, ge=1)
    lr: float = Field(default=0.01, gt=0)
    note: str = ""


class ModelSettings(Section):
    norm: Literal["batch", "instance"] = "batch"
    depth: int = Field(default=2, ge=0, le=8)


class WindowSettings(Section):
    low: float = 0.0
    high: float = WINDOW_HIGH

    @model_validator(mode="after")
    def _ordered(self) -> "WindowSettings":
        if self.low >= self.high:
            msg = f"low ({self.low}) must be below high ({self.high})"
            raise ValueError(msg)
        return self


class BlameSettings(ProjectSettings):
    train: TrainSettings = TrainSettings()
    model: ModelSettings = ModelSettings()
    window: WindowSettings = WindowSettings()

    @model_validator(mode="after")
    def _budget(self) -> "BlameSettings":
        if self.train.epochs * self.model.depth > 1000:
            msg = "train.epochs * model.depth must be at most 1000"
            raise ValueError(msg)
        return self


WRONG_TYPE = st.sampled_from(["many", [1], {"a": 1}, 2.5])
KEYS = {
    # dotted key: (values that validate, values that do not)
    "train.epochs": (st.integers(1, 100), st.integers(-5, 0) | WRONG_TYPE),
    "train.lr": (st.floats(0.001, 1), st.floats(-1, 0) | st.just("fast")),
    "model.norm": (st.sampled_from(["batch", "instance"]), st.sampled_from(["group", "", 3])),
    "model.depth": (st.integers(0, 8), st.integers(9, 20) | st.integers(-3, -1)),
    # A check across two keys: a low at or above the window's high breaks it.
    "window.low": (st.floats(-5, WINDOW_HIGH - 1), st.floats(WINDOW_HIGH, WINDOW_HIGH + 5)),
}
UNRELATED = {"train.note": st.text(alphabet="abc", max_size=5)}


def _nested(dotted: str, value: object) -> dict[str, object]:
    *parents, leaf = dotted.split(".")
    tree: dict[str, object] = {leaf: value}
    for part in reversed(parents):
        tree = {part: tree}
    return tree


def _deep_merge(into: dict[str, object], tree: dict[str, object]) -> None:
    for key, value in tree.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _deep_merge(into[key], value)  # type: ignore[arg-type]
        else:
            into[key] = value


def _write(root: Path, settings_by_layer: dict[str, dict[str, object]]) -> tuple[dict, list]:
    """Write the layers' files; return the environment and the --set items they make."""
    files: dict[str, dict[str, object]] = {
        MONOREPO_BASE: {},
        BASE: {"project": "demo", "docker": {"image": "demo:1"}},
        MODEL_FILE: {},
        DEVELOPMENT: {},
    }
    environ: dict[str, str] = {}
    overrides: list[str] = []
    for layer, values in settings_by_layer.items():
        for dotted, value in values.items():
            if layer == ENV_VAR:
                environ["MEDAI__" + dotted.upper().replace(".", "__")] = json.dumps(value)
            elif layer == SET:
                overrides.append(f"{dotted}={json.dumps(value)}")
            elif layer == MODEL_FILE:
                _deep_merge(files[layer], _nested(dotted.removeprefix("model."), value))
            else:
                _deep_merge(files[layer], _nested(dotted, value))
    for relative, data in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return environ, overrides


def _named(layer: str, overrides: list[str], dotted: str) -> str:
    """How the error names ``layer`` when it set ``dotted``."""
    if layer == ENV_VAR:
        return f"environment variable MEDAI__{dotted.upper().replace('.', '__')}"
    if layer == SET:
        return next(f"--set {item}" for item in overrides if item.startswith(f"{dotted}="))
    return layer


def _error(settings_by_layer: dict[str, dict[str, object]]) -> tuple[ConfigError, str]:
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        environ, overrides = _write(root, settings_by_layer)
        with pytest.raises(ConfigError) as caught:
            load_settings(
                BlameSettings,
                root / "projects" / "demo",
                root,
                overrides=overrides,
                environ=environ,
            )
    return caught.value, json.dumps([environ, overrides])


@st.composite
def one_bad_value(draw: st.DrawFn) -> tuple[str, str, dict[str, dict[str, object]]]:
    """A key, the layer that gives it a bad value, and every layer's values.

    Layers before the culprit may give the key good values; layers after it never set the
    key, but may set other keys of the same section and unrelated ones.
    """
    dotted = draw(st.sampled_from(sorted(KEYS)))
    good, bad = KEYS[dotted]
    eligible = [layer for layer in LAYERS if layer != MODEL_FILE or dotted.startswith("model.")]
    culprit = draw(st.sampled_from(eligible))
    by_layer: dict[str, dict[str, object]] = {}
    for layer in eligible[: eligible.index(culprit)]:
        if draw(st.booleans()):
            by_layer.setdefault(layer, {})[dotted] = draw(good)
    by_layer.setdefault(culprit, {})[dotted] = draw(bad)
    for layer in eligible[eligible.index(culprit) + 1 :]:
        for other in sorted({*KEYS, *UNRELATED} - {dotted}):
            if (layer != MODEL_FILE or other.startswith("model.")) and draw(st.booleans()):
                value = draw(UNRELATED[other] if other in UNRELATED else KEYS[other][0])
                by_layer.setdefault(layer, {})[other] = value
    return dotted, culprit, by_layer


@settings(max_examples=120, deadline=None)
@given(case=one_bad_value())
def test_the_layer_named_is_the_one_that_supplied_the_failing_value(case):
    dotted, culprit, by_layer = case
    section = dotted.split(".")[0]

    error, inputs = _error(by_layer)

    _, overrides = json.loads(inputs)
    assert error.source == _named(culprit, overrides, dotted), str(error)
    assert error.key in {dotted, section}  # the key, or its section for a check across keys
    assert str(error).startswith(f"{error.source}: {error.key}: ")


@settings(max_examples=40, deadline=None)
@given(
    culprit=st.sampled_from([BASE, DEVELOPMENT, ENV_VAR, SET]),
    earlier=st.integers(1, 50),
    depth=st.integers(3, 8),
)
def test_a_check_across_sections_names_the_layer_that_broke_it(culprit, earlier, depth):
    epochs = 1000 // depth + 1  # just over the budget with this depth
    by_layer = {BASE: {"train.epochs": earlier, "model.depth": depth}}
    by_layer.setdefault(culprit, {})["train.epochs"] = epochs

    error, inputs = _error(by_layer)

    _, overrides = json.loads(inputs)
    assert error.source == _named(culprit, overrides, "train.epochs")
    assert error.key is None
    assert str(error) == f"{error.source}: train.epochs * model.depth must be at most 1000"


def test_a_check_broken_by_two_values_together_blames_the_later_one():
    error, _ = _error({DEVELOPMENT: {"train.epochs": 300}, SET: {"model.depth": 8}})

    assert error.source == "--set model.depth=8"  # 300 * 2 passes; 300 * 8 does not


def test_a_check_that_two_layers_break_each_on_their_own_blames_no_single_layer():
    error, _ = _error(
        {BASE: {"train.epochs": 500}, DEVELOPMENT: {"train.epochs": 600}, SET: {"model.depth": 3}}
    )

    # 600 * 2 and 500 * 3 both break the budget: putting back either value does not help.
    assert str(error) == "resolved config: train.epochs * model.depth must be at most 1000"


def test_an_override_of_a_key_checked_with_another_is_blamed_not_the_file_of_the_section():
    error, _ = _error({BASE: {"window.low": 1.0}, SET: {"window.low": 12.5}})

    assert str(error) == ("--set window.low=12.5: window: low (12.5) must be below high (10.0)")


def test_a_section_file_that_broke_a_check_is_blamed_though_a_later_layer_set_the_section():
    error, _ = _error(
        {DEVELOPMENT: {"window.low": 11.0}, ENV_VAR: {"window.high": 10.5}, SET: {"train.lr": 0.1}}
    )

    assert error.source == DEVELOPMENT  # without the env var the window is still broken


@pytest.mark.parametrize(
    ("by_layer", "hint"),
    [
        (
            {DEVELOPMENT: {"train.epochs": 0}},
            f"fix it in {DEVELOPMENT}, or override it for one run with --set train.epochs=VALUE",
        ),
        (
            {BASE: {"window.low": 11.0}},
            f"fix it in {BASE}, or override it for one run with --set KEY=VALUE",
        ),
        (
            {ENV_VAR: {"train.epochs": 0}},
            "check MEDAI__TRAIN__EPOCHS in this environment (fix or unset it)",
        ),
        (
            {SET: {"train.epochs": "many"}},
            "--set values parse as JSON (2, 0.5, true, null, [1, 2]), other text as a string",
        ),
        ({SET: {"train.epochs": 0}}, None),  # the line says it all
        (
            {
                BASE: {"train.epochs": 500},
                DEVELOPMENT: {"train.epochs": 600},
                SET: {"model.depth": 3},
            },
            (
                "values from several layers break this check together; which layer sets "
                "what: docs/configuration.md"
            ),
        ),
    ],
)
def test_the_hint_says_which_layer_to_change_and_how(by_layer, hint):
    error, _ = _error(by_layer)

    assert error.hint == hint
    assert "hint" not in str(error)
