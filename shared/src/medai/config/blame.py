"""Turn pydantic's first validation error into one line that names the layer to fix.

The layer named is the one that supplied the failing value, never merely the file that
held the key before: ``--set train.epochs=-1`` is blamed for ``train.epochs``, not
``base.yaml``. A plain value knows its layer from the merge's provenance. A check that
compares several keys (a model validator, e.g. ``intensity_min`` below
``intensity_max``) has no single key, so each value it may have read is put back to
what the layers before its own gave (latest layer first): the first value whose
reverting makes that error go away, and adds none, is the one that broke the check.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from medai.config.errors import ConfigError
from medai.config.layers import (
    DEFAULTS,
    ENV_SOURCE,
    FileLayer,
    Layer,
    MergedConfig,
    Override,
    merged_from,
)

RESOLVED = "resolved config"
"""The source named when no single layer is to blame (a check across sections)."""
LAYERS_DOC = "which layer sets what: docs/configuration.md"
_MAX_SHOWN_INPUT = 60
_ABSENT = object()


def config_error(
    exc: ValidationError, schema: type[BaseModel], layers: Sequence[Layer], merged: MergedConfig
) -> ConfigError:
    """The first of ``exc``'s errors as a ``ConfigError`` naming its layer and key.

    Args:
        exc: What validating ``merged.data`` against ``schema`` raised.
        schema: The settings model.
        layers: The layers ``merged`` was built from, in the order they were applied.
        merged: The merged tree with provenance.
    """
    errors = exc.errors(include_url=False)
    first = errors[0]
    loc = _dotted_loc(first)
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    source = blamed_source(errors, schema, layers, merged)
    hint = _hint(source, first, layers, merged)
    if not loc:
        # A check across several sections (a model validator) has no single key.
        return ConfigError(source, None, f"{_message(first)}{more}", hint=hint)
    return ConfigError(source, ".".join(loc), _problem(first, schema, loc) + more, hint=hint)


def _hint(
    source: str, error: ErrorDetails, layers: Sequence[Layer], merged: MergedConfig
) -> str | None:
    """What to do, where the message does not say it: which layer to edit and how."""
    loc = _dotted_loc(error)
    key = ".".join(loc)
    if source == RESOLVED:
        return f"values from several layers break this check together; {LAYERS_DOC}"
    if source == DEFAULTS:
        return f"add {key} to the project's configs/base.yaml"
    layer = next((layer for layer in layers if layer.source == source), None)
    if isinstance(layer, FileLayer):
        one_value = bool(loc) and not isinstance(_value_at(merged.data, loc), dict)
        override = f"--set {key}=VALUE" if one_value else "--set KEY=VALUE"
        return f"fix it in {source}, or override it for one run with {override}"
    if isinstance(layer, Override) and source.startswith(ENV_SOURCE):
        variable = source.removeprefix(ENV_SOURCE)
        return f"check {variable} in this environment (fix or unset it)"
    if source.startswith("--set ") and error["type"].endswith(("_type", "_parsing")):
        return "--set values parse as JSON (2, 0.5, true, null, [1, 2]), other text as a string"
    return None


def blamed_source(
    errors: Sequence[ErrorDetails],
    schema: type[BaseModel],
    layers: Sequence[Layer],
    merged: MergedConfig,
) -> str:
    """The layer that supplied the value the first of ``errors`` is about.

    See the module docstring; "resolved config" when no one value is to blame (two
    layers that each break the check on their own).
    """
    loc = _dotted_loc(errors[0])
    exact = merged.sources.get(".".join(loc)) if loc else None
    if errors[0]["type"] == "missing" or (
        exact is not None and not isinstance(_value_at(merged.data, loc), dict)
    ):
        return merged.source_of(loc)
    culprit = _value_that_broke(errors, schema, layers, merged)
    if culprit is not None:
        return merged.sources[culprit]
    return merged.source_of(loc) if loc else RESOLVED


def _value_that_broke(
    errors: Sequence[ErrorDetails],
    schema: type[BaseModel],
    layers: Sequence[Layer],
    merged: MergedConfig,
) -> str | None:
    """The dotted key whose reverting fixes the first error, trying the latest values first."""
    loc = tuple(_dotted_loc(errors[0]))
    others = {(e["loc"], e["type"]) for e in errors[1:]}
    applied_at = {layer.source: index for index, layer in enumerate(layers)}
    candidates = sorted(
        (
            key
            for key in _values_set(merged)
            if merged.sources[key] in applied_at and _related(tuple(key.split(".")), loc)
        ),
        key=lambda key: (-applied_at[merged.sources[key]], -key.count("."), key),
    )
    before: dict[int, dict[str, Any] | None] = {}
    for key in candidates:
        index = applied_at[merged.sources[key]]
        if index not in before:
            before[index] = _merged_data(layers[:index])
        earlier = before[index]
        if earlier is None:
            continue
        parts = key.split(".")
        reverted = _reverted(merged.data, parts, _value_at(earlier, parts))
        if reverted is not None and _fails_only_with(schema, reverted, others):
            return key
    return None


def _merged_data(layers: Sequence[Layer]) -> dict[str, Any] | None:
    """The tree ``layers`` give; None where they do not merge (an override below a value)."""
    try:
        return merged_from(layers).data
    except ConfigError:
        return None


def _fails_only_with(
    schema: type[BaseModel], data: dict[str, Any], allowed: set[tuple[Any, str]]
) -> bool:
    """Whether ``data`` validates, or fails with none but the ``allowed`` (place, kind) errors."""
    try:
        schema.model_validate(data)
    except ValidationError as exc:
        return {(e["loc"], e["type"]) for e in exc.errors(include_url=False)} <= allowed
    return True


def _values_set(merged: MergedConfig) -> list[str]:
    """The dotted keys a layer set as a whole: those with no recorded key below them."""
    return [
        key
        for key in merged.sources
        if not any(other.startswith(f"{key}.") for other in merged.sources)
    ]


def _related(key: tuple[str, ...], loc: tuple[str, ...]) -> bool:
    """Whether ``key`` is at ``loc``, below it, or above it (it replaced what holds ``loc``)."""
    shorter = min(len(key), len(loc))
    return key[:shorter] == loc[:shorter]


def _reverted(data: dict[str, Any], key: Sequence[str], prior: Any) -> dict[str, Any] | None:  # noqa: ANN401 - any config value
    """A copy of ``data`` with ``key`` set to ``prior`` (removed when it had no value)."""
    copied = copy.deepcopy(data)
    parent: Any = copied
    for part in key[:-1]:
        parent = parent.get(part) if isinstance(parent, dict) else None
    if not isinstance(parent, dict):
        return None
    if prior is _ABSENT:
        parent.pop(key[-1], None)
    else:
        parent[key[-1]] = copy.deepcopy(prior)
    return copied


def _dotted_loc(error: ErrorDetails) -> list[str]:
    return [str(p) for p in error["loc"] if isinstance(p, (str, int))]


def _value_at(data: Any, loc: Sequence[str]) -> Any:  # noqa: ANN401 - any config value
    for part in loc:
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list | tuple) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return _ABSENT
    return data


def _message(error: ErrorDetails) -> str:
    return str(error["msg"]).removeprefix("Value error, ")


def _problem(error: ErrorDetails, schema: type[BaseModel], loc: Sequence[str]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        spellings = _keys_here(schema, loc[:-1])
        allowed = sorted(set(spellings.values()))
        close = difflib.get_close_matches(loc[-1], spellings, n=1)
        hint = f"; did you mean {spellings[close[0]]!r}?" if close else ""
        return f"unknown key{hint} (allowed here: {', '.join(allowed)})"
    if kind == "missing":
        return "required key is missing"
    if kind == "value_error":
        return _message(error)
    shown = repr(error.get("input"))
    if len(shown) > _MAX_SHOWN_INPUT:
        shown = shown[: _MAX_SHOWN_INPUT - 3] + "..."
    return f"{error['msg']} (got {shown})"


def _keys_here(schema: type[BaseModel], loc: Sequence[str]) -> dict[str, str]:
    """Each spelling of a key at ``loc`` (field name or alias) -> the one config files use.

    A field with an alias is written by its alias (``logging.json``); its Python name
    (``json_format``) maps to the alias, so a user who typed the name is told the alias.
    """
    model: type[BaseModel] = schema
    for part in loc:
        info = model.model_fields.get(part) or next(
            (f for f in model.model_fields.values() if f.alias == part), None
        )
        annotation = getattr(info, "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return {}
        model = annotation
    spellings = {name: info.alias or name for name, info in model.model_fields.items()}
    return {**spellings, **{alias: alias for alias in spellings.values()}}
