"""Layered, validated configuration: YAML layers -> environment -> ``--set`` overrides."""

from medai.config.errors import ConfigError
from medai.config.inputs import InputSettings
from medai.config.loader import (
    DEFAULT_ENV,
    ENV_VARIABLE,
    available_environments,
    load_settings,
    settings_as_dict,
    settings_as_yaml,
    settings_hash,
)
from medai.config.sections import (
    ApiSettings,
    CardSettings,
    DeploySettings,
    DockerSettings,
    LoggingSettings,
    ProjectSettings,
    Section,
    TrackingSettings,
    WorkLimits,
)
from medai.config.tuning import TuneSettings

__all__ = [
    "DEFAULT_ENV",
    "ENV_VARIABLE",
    "ApiSettings",
    "CardSettings",
    "ConfigError",
    "DeploySettings",
    "DockerSettings",
    "InputSettings",
    "LoggingSettings",
    "ProjectSettings",
    "Section",
    "TrackingSettings",
    "TuneSettings",
    "WorkLimits",
    "available_environments",
    "load_settings",
    "settings_as_dict",
    "settings_as_yaml",
    "settings_hash",
]
