"""Read configuration layers and merge them while remembering where each key came from.

Provenance is the point: when validation fails, the error must name the file (or
environment variable, or ``--set`` override) that supplied the offending key.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from medai.config.errors import ConfigError

ENV_PREFIX = "MEDAI__"
"""Environment overrides: ``MEDAI__TRAIN__EPOCHS=3`` sets ``train.epochs``."""

WELL_KNOWN_ENV = {"MLFLOW_TRACKING_URI": "tracking.uri"}
"""Standard variables of other tools that users expect to be honoured."""
ENV_SOURCE = "environment variable "
"""How an error names an environment variable: ``environment variable MEDAI__TRAIN__EPOCHS``."""
DEFAULTS = "defaults"
"""The source of a key no layer set (the settings model's defaults)."""


@dataclass
class MergedConfig:
    """A merged tree of plain values plus, for each dotted key, the layer that set it."""

    data: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)

    def merge(self, layer: Mapping[str, Any], source: str, prefix: tuple[str, ...] = ()) -> None:
        """Deep-merge ``layer`` under ``prefix``; later layers win key by key."""
        target = self.data
        for depth, part in enumerate(prefix):
            dotted = ".".join(prefix[: depth + 1])
            if not isinstance(target.get(part), dict):
                # An empty (null) or scalar section is replaced: later layers win.
                target[part] = {}
                self.sources[dotted] = source
            target = target[part]
            self.sources.setdefault(dotted, source)
        _merge_into(target, layer, source, prefix, self.sources)

    def set_dotted(self, dotted: str, value: Any, source: str) -> None:  # noqa: ANN401 - any YAML value
        """Set one dotted key, creating parent mappings as needed."""
        *parents, leaf = dotted.split(".")
        target = self.data
        for index, part in enumerate(parents):
            child = target.get(part)
            if child is None:  # an empty (null) section is filled, as a YAML layer fills it
                child = target[part] = {}
            if not isinstance(child, dict):
                key = ".".join(parents[: index + 1])
                raise ConfigError(source, dotted, f"cannot set a sub-key: {key} is not a mapping")
            target = child
        target[leaf] = value
        _forget_below(dotted, self.sources)
        self.sources[dotted] = source

    def source_of(self, loc: Sequence[str | int]) -> str:
        """Return the layer that set the key at ``loc`` (or its closest parent)."""
        parts = [str(p) for p in loc]
        while parts:
            found = self.sources.get(".".join(parts))
            if found is not None:
                return found
            parts.pop()
        return DEFAULTS


def _merge_into(
    target: dict[str, Any],
    layer: Mapping[str, Any],
    source: str,
    prefix: tuple[str, ...],
    sources: dict[str, str],
) -> None:
    for key, value in layer.items():
        path = (*prefix, str(key))
        dotted = ".".join(path)
        if isinstance(value, Mapping) and isinstance(target.get(key), dict):
            sources.setdefault(dotted, source)
            _merge_into(target[key], value, source, path, sources)
            continue
        target[key] = _plain(value)
        _forget_below(dotted, sources)
        sources[dotted] = source
        if isinstance(value, Mapping):
            _record_leaves(value, path, source, sources)


def _forget_below(dotted: str, sources: dict[str, str]) -> None:
    """Forget where the keys below ``dotted`` came from: the value holding them was replaced.

    Their errors are then blamed on the layer that replaced it (via the parent key).
    """
    for stale in [k for k in sources if k.startswith(f"{dotted}.")]:
        del sources[stale]


def _record_leaves(
    mapping: Mapping[str, Any], prefix: tuple[str, ...], source: str, sources: dict[str, str]
) -> None:
    for key, value in mapping.items():
        path = (*prefix, str(key))
        sources[".".join(path)] = source
        if isinstance(value, Mapping):
            _record_leaves(value, path, source, sources)


def _plain(value: Any) -> Any:  # noqa: ANN401 - any YAML value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class FileLayer:
    """A YAML file's mapping, merged key by key into the sections before it.

    Attributes:
        source: The file, as errors name it (relative to the repo root).
        values: Its mapping.
        prefix: The section it fills, e.g. ``("model",)`` for ``model_configs/<name>.yaml``.
    """

    source: str
    values: Mapping[str, Any]
    prefix: tuple[str, ...] = ()

    def apply_to(self, merged: MergedConfig) -> None:
        """Merge this file into ``merged``."""
        merged.merge(self.values, self.source, self.prefix)


@dataclass(frozen=True)
class Override:
    """One dotted key set as a whole, by an environment variable or ``--set``.

    Attributes:
        source: What set it, as errors name it (``--set train.epochs=2``).
        dotted: The key, e.g. ``train.epochs``.
        value: The parsed value.
    """

    source: str
    dotted: str
    value: Any

    def apply_to(self, merged: MergedConfig) -> None:
        """Set the key in ``merged``, replacing what the layers before put there."""
        merged.set_dotted(self.dotted, self.value, self.source)


Layer = FileLayer | Override
"""One source of values; ``merged_from`` applies a list of them in order (later wins)."""


def merged_from(layers: Iterable[Layer]) -> MergedConfig:
    """Apply ``layers`` in order into one tree with provenance.

    Raises:
        ConfigError: an override sets a key below a plain value.
    """
    merged = MergedConfig()
    for layer in layers:
        layer.apply_to(merged)
    return merged


def read_yaml_layer(path: Path, label: str) -> dict[str, Any]:
    """Read one YAML file that must hold a mapping (an empty file is an empty layer).

    Raises:
        ConfigError: the file is unreadable, not valid YAML, or not a mapping.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(label, None, f"cannot be read ({exc.strerror})") from exc
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise ConfigError(label, None, f"invalid YAML{where}: {problem}") from exc
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(label, None, f"must be a mapping of keys, got {type(loaded).__name__}")
    bad_keys = [k for k in loaded if not isinstance(k, str)]
    if bad_keys:
        raise ConfigError(label, str(bad_keys[0]), "keys must be strings")
    return loaded


def parse_scalar(text: str) -> Any:  # noqa: ANN401 - any JSON value
    """Parse an override value: JSON when it parses (``2``, ``true``, ``[16, 32]``), else a string.

    JSON rather than YAML on purpose: YAML 1.1 turns ``yes``/``no``/``on`` into
    booleans, which surprises users typing strings.
    """
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def env_overrides(environ: Mapping[str, str]) -> list[Override]:
    """Collect the overrides the environment sets, sorted for determinism."""
    found: list[Override] = []
    for name, dotted in WELL_KNOWN_ENV.items():
        if environ.get(name):
            found.append(Override(f"{ENV_SOURCE}{name}", dotted, environ[name]))
    for name in sorted(environ):
        if name.startswith(ENV_PREFIX) and len(name) > len(ENV_PREFIX):
            dotted = ".".join(part.lower() for part in name[len(ENV_PREFIX) :].split("__"))
            value = parse_scalar(environ[name])
            found.append(Override(f"{ENV_SOURCE}{name}", dotted, value))
    return found


def cli_overrides(overrides: Sequence[str]) -> list[Override]:
    """Parse ``key=value`` overrides given with ``--set``.

    Raises:
        ConfigError: an override is not of the form ``dotted.key=value``.
    """
    found: list[Override] = []
    for item in overrides:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key or any(not part for part in key.split(".")):
            raise ConfigError(
                f"--set {item}", None, "expected the form dotted.key=value, e.g. train.epochs=2"
            )
        found.append(Override(f"--set {item}", key, parse_scalar(value)))
    return found
