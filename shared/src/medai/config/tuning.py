"""The ``tune`` section: the hyper-parameter search space, and how the search runs.

``tune.space`` maps a dotted config key (what ``--set KEY=VALUE`` takes) to a
distribution::

    tune:
      space:
        train.learning_rate: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}
        train.batch_size: {type: int, low: 8, high: 32, step: 8}
        model.growth_rate: {type: categorical, choices: [8, 12, 16]}

Each distribution is checked on its own here (``low < high``, ``log`` needs a positive
``low``, ``step`` divides the range, choices are scalars and distinct); whether its key
exists and takes its values is checked against the whole project's settings type
(``space_problems``, called by ``ProjectSettings``), by validating the settings with
each bound and each choice put in, exactly as ``--set`` would. So a space that loads is
a space whose every sample is a config the project accepts, key by key, and a bad one
stops every command with one line naming ``tune.space.<key>``. The search itself is
``medai.tuning`` (Optuna); this module needs pydantic only.
"""

from __future__ import annotations

import copy
import math
import types
import typing
from collections.abc import Iterator, Mapping
from pathlib import Path, PurePath
from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)
from pydantic_core import ErrorDetails

from medai.config.section import Section

Choice = StrictBool | StrictInt | StrictFloat | StrictStr | None
"""One categorical choice: the scalar types Optuna stores (and ``--set`` parses back)."""

_STEP_TOLERANCE = 1e-9
"""Relative slack when checking that a float ``step`` divides ``high - low``."""
MAX_SHOWN_ERROR = 160


class FloatDistribution(Section):
    """A real value in ``[low, high]``: uniform, log-uniform (``log``) or on a grid (``step``)."""

    type: Literal["float"]
    low: float
    high: float
    log: bool = False
    step: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _consistent(self) -> FloatDistribution:
        _check_range(self.low, self.high)
        if self.log and self.low <= 0:
            raise ValueError(f"log: true needs low > 0, got low={self.low!r}")
        if self.log and self.step is not None:
            raise ValueError("log and step exclude each other: give one (Optuna samples either)")
        if self.step is not None:
            steps = (self.high - self.low) / self.step
            if abs(steps - round(steps)) > _STEP_TOLERANCE * max(1.0, abs(steps)):
                raise ValueError(
                    f"step {self.step!r} must divide high - low = {self.high - self.low!r} "
                    f"(got {steps:.4g} steps)"
                )
        return self

    def bounds(self) -> tuple[float, float]:
        """The values a trial may take at the ends of the range."""
        return self.low, self.high


class IntDistribution(Section):
    """An integer in ``[low, high]``, every ``step`` from ``low`` (or log-uniform)."""

    type: Literal["int"]
    low: StrictInt
    high: StrictInt
    step: StrictInt = Field(default=1, ge=1)
    log: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> IntDistribution:
        _check_range(self.low, self.high)
        if self.log and self.low < 1:
            raise ValueError(f"log: true needs low >= 1, got low={self.low!r}")
        if self.log and self.step != 1:
            raise ValueError(f"log: true samples every integer; step must be 1, got {self.step}")
        if (self.high - self.low) % self.step:
            raise ValueError(
                f"step {self.step} must divide high - low = {self.high - self.low} "
                f"(low={self.low}, high={self.high})"
            )
        return self

    def bounds(self) -> tuple[int, int]:
        """The values a trial may take at the ends of the range."""
        return self.low, self.high


class CategoricalDistribution(Section):
    """One of a list of scalar ``choices`` (numbers, strings, booleans, null)."""

    type: Literal["categorical"]
    choices: tuple[Choice, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _distinct(self) -> CategoricalDistribution:
        seen: list[Choice] = []
        for choice in self.choices:
            if any(type(choice) is type(other) and choice == other for other in seen):
                raise ValueError(f"choices must be distinct; {choice!r} is given twice")
            seen.append(choice)
        return self


AnyDistribution = FloatDistribution | IntDistribution | CategoricalDistribution
"""One parsed ``tune.space`` entry."""
DISTRIBUTION_TYPES = ("float", "int", "categorical")


class PrunerSettings(Section):
    """Optuna's ``MedianPruner``: stop a trial whose score is below the median of others'.

    Scores are the validation metric the engine reports each validation epoch.
    """

    n_startup_trials: int = Field(
        default=2, ge=0, description="Trials that finish unpruned before any is pruned."
    )
    n_warmup_steps: int = Field(
        default=1, ge=0, description="A trial's first epochs that are never pruned."
    )


class TuneSettings(Section):
    """``tune``: the search space, and how ``python -m medai.tuning`` searches it.

    The keys of ``space`` are dotted config keys, not nested mappings: validated in
    ``validate_space`` (here the values, in ``space_problems`` against the project).
    """

    space: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Dotted config key -> distribution ({type: float|int|categorical, ...}).",
    )
    direction: Literal["maximize"] = Field(
        default="maximize",
        description="The engine's monitored validation score is higher-better.",
    )
    sampler_seed: int = Field(
        default=0, description="Seeds TPE; trial n samples with seed sampler_seed + n."
    )
    sampler_startup_trials: int = Field(
        default=10, ge=1, description="Trials TPE samples at random before modelling the scores."
    )
    pruner: PrunerSettings = PrunerSettings()
    heartbeat_s: int = Field(
        default=10, ge=1, description="How often a running trial tells the storage it lives."
    )
    grace_s: int = Field(
        default=60,
        ge=2,
        description="A running trial silent this long is failed (its worker died) and retried.",
    )
    max_retries: int = Field(
        default=3, ge=0, description="How often one trial is retried after its worker died."
    )
    output_dir: Path = Field(
        default=Path("outputs/tune"),
        description="<output_dir>/<study>/best.yaml: the best trial's overrides "
        "(relative: the project folder).",
    )

    @model_validator(mode="after")
    def _heartbeat_fits(self) -> TuneSettings:
        if self.grace_s <= self.heartbeat_s:
            raise ValueError(
                f"grace_s ({self.grace_s}) must exceed heartbeat_s ({self.heartbeat_s}), "
                "or a live trial is taken for dead between two heartbeats"
            )
        return self

    def distributions(self) -> dict[str, AnyDistribution]:
        """The space's distributions, parsed (the space validated when the settings loaded)."""
        return {key: parse_distribution(raw) for key, raw in self.space.items()}


_DISTRIBUTION_MODELS: dict[str, type[BaseModel]] = {
    "float": FloatDistribution,
    "int": IntDistribution,
    "categorical": CategoricalDistribution,
}


def parse_distribution(raw: Mapping[str, Any]) -> AnyDistribution:
    """One distribution from its config mapping.

    Raises:
        ValueError: no or an unknown ``type``.
        pydantic.ValidationError: a key or value of the distribution is wrong.
    """
    kind = raw.get("type")
    model = _DISTRIBUTION_MODELS.get(kind) if isinstance(kind, str) else None
    if model is None and "type" not in raw and all(isinstance(v, Mapping) for v in raw.values()):
        raise ValueError(
            "expected a distribution {type: float|int|categorical, ...}, got nested keys: "
            "a space key is a whole dotted config key ('train.learning_rate': {...}); "
            "override the space as one value, --set tune.space='{\"KEY\": {...}}'"
        )
    if model is None:
        raise ValueError(f"type must be one of {', '.join(DISTRIBUTION_TYPES)}, got {kind!r}")
    parsed = model.model_validate(raw)
    assert isinstance(parsed, AnyDistribution)  # noqa: S101 - the table above holds only these
    return parsed


def _check_range(low: float, high: float) -> None:
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"low and high must be finite numbers, got low={low!r}, high={high!r}")
    if low >= high:
        raise ValueError(f"needs low < high, got low={low!r}, high={high!r}")


def distribution_problem(raw: object) -> str | None:
    """What is wrong with one distribution on its own (None when nothing is)."""
    if not isinstance(raw, Mapping):
        return f"expected a mapping {{type: float|int|categorical, ...}}, got {raw!r}"
    try:
        parse_distribution(raw)
    except ValidationError as exc:
        return _distribution_error(raw, exc.errors(include_url=False)[0])
    except ValueError as exc:
        return str(exc)
    return None


def _distribution_error(raw: Mapping[str, Any], first: ErrorDetails) -> str:
    """One line for pydantic's first error about a distribution."""
    where = ".".join(str(part) for part in first["loc"])
    kind = first["type"]
    if kind == "extra_forbidden":
        allowed = ", ".join(_DISTRIBUTION_MODELS[str(raw.get("type"))].model_fields)
        return f"unknown key {where!r} of a {raw.get('type')} distribution (allowed: {allowed})"
    if kind == "missing":
        return f"{where} is missing"
    if kind == "too_short":
        return f"{where} must name at least one value, got {first.get('input')!r}"
    message = str(first["msg"]).removeprefix("Value error, ")
    shown = f"{where}: " if where else ""
    got = "" if kind == "value_error" else f" (got {first.get('input')!r})"
    return f"{shown}{message}{got}"


# --- The space against the project's settings type -----------------------------------


def space_problems(schema: type[BaseModel], settings: BaseModel) -> Iterator[tuple[str, str]]:
    """Every ``(key, problem)`` of ``settings.tune.space`` against the project's ``schema``.

    A key must name one config value (not a section, not ``tune`` itself); a float
    distribution needs a field that takes real numbers, an int one a field that takes
    integers; and the settings must validate with each bound and each choice put in,
    as ``--set KEY=VALUE`` would set it (so ranges, ``Literal`` values and checks across
    keys apply to the space too).

    Args:
        schema: The project's settings type (``type(settings)``).
        settings: The validated settings, ``tune`` included.
    """
    tune = getattr(settings, "tune", None)
    if not isinstance(tune, TuneSettings) or not tune.space:
        return
    dumped = settings.model_dump(by_alias=True, round_trip=True)
    dumped["tune"] = {}  # the space's own values are checked here, not again for each trial
    base: dict[str, Any] | None = dumped
    try:
        schema.model_validate(dumped)
    except ValidationError:
        # The settings fail another check of their own (its error is the one to report):
        # a sampled value cannot be judged against them, only the space's shape can.
        base = None
    for key, raw in tune.space.items():
        problem = distribution_problem(raw) or _key_problem(schema, key, raw, base)
        if problem is not None:
            yield key, problem


def _key_problem(
    schema: type[BaseModel], key: str, raw: Mapping[str, Any], base: dict[str, Any] | None
) -> str | None:
    parts = key.split(".")
    if not key or any(not part for part in parts):
        return "expected a dotted config key such as train.learning_rate"
    if parts[0] == "tune":
        return "the search cannot tune its own tune section"
    annotation = _annotation_at(schema, parts)
    if isinstance(annotation, str):
        return annotation
    distribution = parse_distribution(raw)
    kinds = _scalar_kinds(annotation)
    shape = _type_problem(distribution, kinds, key)
    if shape is not None or base is None:
        return shape
    values: tuple[object, ...] = (
        distribution.choices
        if isinstance(distribution, CategoricalDistribution)
        else distribution.bounds()
    )
    for value in values:
        refused = _refusal(schema, base, parts, value)
        if refused is not None:
            what = "choice" if isinstance(distribution, CategoricalDistribution) else "bound"
            return f"{what} {value!r} is refused by {key}: {refused}"
    return None


def _annotation_at(schema: type[BaseModel], parts: list[str]) -> object:
    """The annotation of the field at ``parts``, or the one-line reason there is none."""
    model: type[BaseModel] | None = schema
    annotation: object = None
    for index, part in enumerate(parts):
        here = ".".join(parts[:index]) or "the top level"
        if model is None:
            mapping = _mapping_values(annotation)
            if mapping is None:
                return f"unknown config key: {'.'.join(parts[:index])} is a single value"
            annotation = mapping
        else:
            fields = {info.alias or name: info for name, info in model.model_fields.items()}
            fields.update(model.model_fields)
            info = fields.get(part)
            if info is None:
                allowed = ", ".join(sorted({found.alias or name for name, found in fields.items()}))
                return (
                    f"unknown config key {'.'.join(parts)!r}: no {part!r} in {here} "
                    f"(allowed: {allowed})"
                )
            annotation = info.annotation
        model = _model_of(annotation)
    if model is not None:
        example = ".".join([*parts, next(iter(model.model_fields), "KEY")])
        return f"{'.'.join(parts)} is a section; name one of its keys (e.g. {example})"
    return annotation


def _model_of(annotation: object) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _mapping_values(annotation: object) -> object | None:
    """``X`` of a ``dict[str, X]`` field (possibly optional or one of a union), else None."""
    for option in _options(annotation):
        if typing.get_origin(option) is dict:
            args = typing.get_args(option)
            return args[1] if len(args) == 2 else Any  # noqa: PLR2004 - key and value
    return None


def _options(annotation: object) -> list[object]:
    """The members of a union (``X | None``), or the annotation alone; ``Annotated`` unwrapped."""
    while typing.get_origin(annotation) is Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) in {Union, types.UnionType}:
        return [option for arg in typing.get_args(annotation) for option in _options(arg)]
    return [annotation]


def _scalar_kinds(annotation: object) -> set[str]:
    """Which of bool, int, float, str, none (and other, non-scalar) a field takes."""
    kinds: set[str] = set()
    for option in _options(annotation):
        if option is type(None) or option is None:
            kinds.add("none")
        elif typing.get_origin(option) is Literal:
            kinds.update(_kind_of(value) for value in typing.get_args(option))
        elif option is bool:
            kinds.add("bool")
        elif option is int:
            kinds.add("int")
        elif option is float:
            kinds.update({"float", "int"})
        elif option is str or (isinstance(option, type) and issubclass(option, PurePath)):
            kinds.add("str")
        elif option is Any:
            kinds.update({"bool", "int", "float", "str", "none"})
        else:
            kinds.add("other")
    return kinds


def _kind_of(value: object) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    return "other"


def _field_words(kinds: set[str]) -> str:
    named: list[str] = [kind for kind in ("bool", "int", "float", "str", "none") if kind in kinds]
    if "other" in kinds:
        named.append("a non-scalar value")
    if "float" in named and "int" in named:
        named.remove("int")
    return " or ".join(named) or "nothing"


def _type_problem(
    distribution: AnyDistribution,
    kinds: set[str],
    key: str,
) -> str | None:
    """A distribution whose values are of a kind the field does not take."""
    field = f"{key} takes {_field_words(kinds)} values"
    expected = "expected a distribution of the field's type, got"
    if isinstance(distribution, FloatDistribution) and "float" not in kinds:
        hint = "; use type: int" if "int" in kinds else ""
        return f"{expected} a float distribution ({field}{hint})"
    if isinstance(distribution, IntDistribution) and "int" not in kinds:
        hint = "; use type: categorical" if kinds & {"bool", "str"} else ""
        return f"{expected} an int distribution ({field}{hint})"
    if isinstance(distribution, CategoricalDistribution):
        for choice in distribution.choices:
            kind = _kind_of(choice)
            takes = kind in kinds or (kind == "int" and "float" in kinds)
            if not takes:
                return f"expected choices of the field's type ({field}), got {choice!r} ({kind})"
    return None


def _refusal(
    schema: type[BaseModel], base: dict[str, Any], parts: list[str], value: object
) -> str | None:
    """Why the settings do not validate with ``value`` at ``parts`` (None when they do)."""
    data = copy.deepcopy(base)
    target = data
    for part in parts[:-1]:
        child = target.get(part)
        if not isinstance(child, dict):
            child = target[part] = {}
        target = child
    target[parts[-1]] = value
    try:
        schema.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        message = str(first["msg"]).removeprefix("Value error, ")
        return message[:MAX_SHOWN_ERROR]
    return None
