"""Resolve the layered configuration of a project into one validated pydantic object.

Layers, later wins: monorepo ``configs/base.yaml`` -> project ``configs/base.yaml`` ->
``configs/model_configs/<project>.yaml`` (under ``model``) ->
``configs/api_configs/{fastapi,docker}.yaml`` (under ``api`` / ``docker``) ->
``configs/<MEDAI_ENV>.yaml`` -> environment variables -> ``--set key=value``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from medai.config.blame import config_error
from medai.config.errors import ConfigError
from medai.config.layers import (
    ENV_SOURCE,
    FileLayer,
    Layer,
    Override,
    cli_overrides,
    env_overrides,
    merged_from,
    read_yaml_layer,
)

SettingsT = TypeVar("SettingsT", bound=BaseModel)

ENV_VARIABLE = "MEDAI_ENV"
DEFAULT_ENV = "development"
_ENV_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
_SECTION_FILES = (("api", "api_configs/fastapi.yaml"), ("docker", "api_configs/docker.yaml"))


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
            f"{ENV_SOURCE}{ENV_VARIABLE}",
            None,
            f"unknown environment {env!r}; expected one of {', '.join(known)}",
        )
    return env


def config_layers(
    project_dir: Path,
    repo_root: Path,
    env: str,
    overrides: Sequence[str],
    environ: Mapping[str, str],
) -> list[Layer]:
    """Read every layer, in the order they apply (later wins).

    Raises:
        ConfigError: a file cannot be read or parsed, or an override is malformed.
    """
    configs = project_dir / "configs"
    files: list[tuple[Path, tuple[str, ...]]] = [
        (repo_root / "configs" / "base.yaml", ()),
        (configs / "base.yaml", ()),
        *(
            (configs / relative, (section,))
            for section, relative in [
                ("model", f"model_configs/{project_dir.name}.yaml"),
                *_SECTION_FILES,
            ]
        ),
        (configs / f"{env}.yaml", ()),
    ]
    optional = {files[0][0], *(path for path, prefix in files if prefix)}
    layers: list[Layer] = []
    for path, prefix in files:
        if path in optional and not path.is_file():
            continue
        label = _label(path, repo_root)
        layers.append(FileLayer(label, read_yaml_layer(path, label), prefix))
    layers.append(Override(f"{ENV_SOURCE}{ENV_VARIABLE}", "environment", env))
    return [*layers, *env_overrides(environ), *cli_overrides(overrides)]


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
    layers = config_layers(project_dir, repo_root, env, overrides, environ)
    merged = merged_from(layers)
    try:
        return schema.model_validate(merged.data)
    except ValidationError as exc:
        raise config_error(exc, schema, layers, merged) from None


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
