"""Resolve the layered configuration of a project into one validated pydantic object.

Layers, later wins: monorepo ``configs/base.yaml`` -> project ``configs/base.yaml`` ->
``configs/model_configs/<project>.yaml`` (under ``model``) ->
``configs/api_configs/{fastapi,docker}.yaml`` (under ``api`` / ``docker``) ->
``configs/<MEDAI_ENV>.yaml`` -> environment variables -> ``--set key=value``.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from medai.config.errors import ConfigError
from medai.config.layers import (
    MergedConfig,
    cli_overrides,
    env_overrides,
    read_yaml_layer,
)

SettingsT = TypeVar("SettingsT", bound=BaseModel)

ENV_VARIABLE = "MEDAI_ENV"
DEFAULT_ENV = "development"
_ENV_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
_SECTION_FILES = (("api", "api_configs/fastapi.yaml"), ("docker", "api_configs/docker.yaml"))
_MAX_SHOWN_INPUT = 60


def _label(path: Path, repo_root: Path) -> str:
    try:
        return path.resolve().relative_to(repo_root.resolve()).as_posix()
    except ValueError:
        return str(path)


def available_environments(project_dir: Path) -> list[str]:
    """Environments a project defines: every ``configs/<name>.yaml`` except ``base``."""
    return sorted(p.stem for p in (project_dir / "configs").glob("*.yaml") if p.stem != "base")


def resolve_environment(project_dir: Path, environ: Mapping[str, str]) -> str:
    """Return the environment chosen by ``MEDAI_ENV`` (``development`` when unset).

    Raises:
        ConfigError: the name is malformed or the project has no such environment file.
    """
    env = environ.get(ENV_VARIABLE, "").strip() or DEFAULT_ENV
    known = available_environments(project_dir)
    if not _ENV_NAME.match(env) or env not in known:
        raise ConfigError(
            f"environment variable {ENV_VARIABLE}",
            None,
            f"unknown environment {env!r}; expected one of {', '.join(known)}",
        )
    return env


def merge_layers(
    project_dir: Path,
    repo_root: Path,
    env: str,
    overrides: Sequence[str],
    environ: Mapping[str, str],
) -> MergedConfig:
    """Merge every layer into one tree with provenance, without validating it."""
    merged = MergedConfig()
    configs = project_dir / "configs"
    monorepo_base = repo_root / "configs" / "base.yaml"
    if monorepo_base.is_file():
        merged.merge(
            read_yaml_layer(monorepo_base, _label(monorepo_base, repo_root)),
            _label(monorepo_base, repo_root),
        )
    base = configs / "base.yaml"
    merged.merge(read_yaml_layer(base, _label(base, repo_root)), _label(base, repo_root))
    sections = [("model", f"model_configs/{project_dir.name}.yaml"), *_SECTION_FILES]
    for section, relative in sections:
        path = configs / relative
        if path.is_file():
            label = _label(path, repo_root)
            merged.merge(read_yaml_layer(path, label), label, prefix=(section,))
    env_file = configs / f"{env}.yaml"
    merged.merge(
        read_yaml_layer(env_file, _label(env_file, repo_root)), _label(env_file, repo_root)
    )
    merged.set_dotted("environment", env, f"environment variable {ENV_VARIABLE}")
    for dotted, value, source in [*env_overrides(environ), *cli_overrides(overrides)]:
        merged.set_dotted(dotted, value, source)
    return merged


def load_settings(
    schema: type[SettingsT],
    project_dir: Path,
    repo_root: Path,
    *,
    overrides: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
) -> SettingsT:
    """Resolve and validate a project's configuration.

    Args:
        schema: the project's settings model (``extra="forbid"`` on every section, so a
            misspelt key is an error rather than silently ignored).
        project_dir: ``projects/<name>``.
        repo_root: the monorepo root holding the monorepo-wide ``configs/``.
        overrides: ``dotted.key=value`` strings from ``--set``.
        environ: the environment to read ``MEDAI_ENV`` and overrides from
            (``os.environ`` when ``None``; tests pass their own).

    Returns:
        The validated settings object.

    Raises:
        ConfigError: one line naming the file (or variable, or override) and the key.
    """
    environ = os.environ if environ is None else environ
    env = resolve_environment(project_dir, environ)
    merged = merge_layers(project_dir, repo_root, env, overrides, environ)
    try:
        return schema.model_validate(merged.data)
    except ValidationError as exc:
        raise _first_error(exc, merged, schema) from None


def _first_error(
    exc: ValidationError, merged: MergedConfig, schema: type[BaseModel]
) -> ConfigError:
    errors = exc.errors(include_url=False)
    first = errors[0]
    loc = [p for p in first["loc"] if isinstance(p, (str, int))]
    key = ".".join(str(p) for p in loc)
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    kind = first["type"]
    if kind == "extra_forbidden":
        allowed = _allowed_keys(schema, loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        problem = f"unknown key{hint} (allowed here: {', '.join(allowed)})"
    elif kind == "missing":
        problem = "required key is missing"
    elif kind == "value_error":
        problem = str(first["msg"]).removeprefix("Value error, ")
    else:
        shown = repr(first.get("input"))
        if len(shown) > _MAX_SHOWN_INPUT:
            shown = shown[: _MAX_SHOWN_INPUT - 3] + "..."
        problem = f"{first['msg']} (got {shown})"
    if not loc:
        # A check across several keys (a model validator) has no single key to blame.
        message = str(first["msg"]).removeprefix("Value error, ")
        return ConfigError("resolved config", None, f"{message}{more}")
    return ConfigError(merged.source_of(loc), key, problem + more)


def _allowed_keys(schema: type[BaseModel], loc: Sequence[str | int]) -> list[str]:
    model: type[BaseModel] = schema
    for part in loc:
        info = model.model_fields.get(str(part))
        annotation = getattr(info, "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return sorted(model.model_fields)


def settings_as_dict(settings: BaseModel) -> dict[str, Any]:
    """The resolved settings as JSON-compatible data; secrets stay masked.

    Keys are the aliases (``logging.json``), i.e. the keys of the config files, so the
    dump loads back as a config.
    """
    return settings.model_dump(mode="json", by_alias=True)


def settings_as_yaml(settings: BaseModel) -> str:
    """The resolved settings as YAML, in field order: what gets logged to MLflow."""
    return yaml.safe_dump(settings_as_dict(settings), sort_keys=False)


def settings_hash(settings: BaseModel) -> str:
    """A stable SHA-256 of the resolved settings, for lineage tags."""
    canonical = json.dumps(settings_as_dict(settings), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
