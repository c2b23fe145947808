"""Which registered version a command may use, in which environment: one rule for every entry point.

Every training moves the ``challenger`` alias to its new version, however poor it is;
only ``invoke deploy`` compares it with the champion and promotes it. So a command that
quietly fell back to the challenger when there was no champion served a 1-epoch model
(Dice 0.03) in place of a good one. The rule, for ``serve``, ``evaluate`` and ``predict``
alike:

- a version named explicitly (``--version N``, ``--alias NAME``) is used anywhere;
- otherwise the configured alias (``api.model_alias``, normally ``champion``);
- when it is missing, ``api.fallback_alias`` (normally ``challenger``) is used outside
  production only, with a WARNING line naming the version and its validation metric;
  production refuses, except a fallback to ``champion`` itself (a promoted version);
- the server re-checks the materialized folder's card at start-up, because a folder
  written in development can be mounted in production.

Importable without MLflow: the server and the tests use it as it is.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from medai.tracking.errors import ModelNotFoundError, ModelRefusedError

if TYPE_CHECKING:  # types only: importing medai.serving would load FastAPI into every command
    from pathlib import Path

    from medai.config.sections import ApiSettings, ProjectSettings
    from medai.serving.bundle import ModelCard

CHAMPION = "champion"
CHALLENGER = "challenger"
PRODUCTION = "production"

VALIDATION_METRIC_TAG = "medai.validation_metric"
"""Model-version tag: the name of the run metric that ranks a training (``best_val_dice_mean``).

Stored at registration, so a kit-agnostic command (``serve``) can say how good the
version it falls back to is, and the server can read the figure from the card's tags.
"""

SERVE_NAMING = "--alias/--version"
"""How ``serve`` names a model explicitly (``evaluate`` and ``predict`` offer ``--alias``)."""


@dataclass(frozen=True)
class MetricReading:
    """A version's validation metric: its name and value, either of which may be unknown."""

    name: str | None
    value: float | None

    def __str__(self) -> str:
        """``best_val_dice_mean 0.031``, or ``unknown`` in place of what is missing."""
        value = "unknown" if self.value is None else f"{self.value:.3f}"
        return f"{self.name or 'validation metric'} {value}"


@dataclass(frozen=True)
class ModelRequest:
    """What a command was asked to use, with the configuration and environment it runs in.

    Attributes:
        model: Registered model name, for messages.
        project: Project name, for the ``invoke`` commands a message suggests.
        environment: ``settings.environment`` (``MEDAI_ENV``).
        primary: ``api.model_alias``: the alias used when nothing is named.
        fallback: ``api.fallback_alias``: tried when ``primary`` is missing (see the module).
        alias: An alias named on the command line (``--alias``), or None.
        version: A version named on the command line (``--version``), or None.
        naming: The options this command offers to name a model, for the refusal line.
    """

    model: str
    project: str
    environment: str
    primary: str
    fallback: str | None
    alias: str | None = None
    version: str | None = None
    naming: str = "--alias"

    @classmethod
    def from_settings(
        cls,
        settings: ProjectSettings,
        *,
        alias: str | None = None,
        version: str | int | None = None,
        naming: str = "--alias",
    ) -> ModelRequest:
        """The request of a command run with ``settings`` and the given explicit choices."""
        return cls(
            model=settings.registered_model_name(),
            project=settings.project,
            environment=settings.environment,
            primary=settings.api.model_alias,
            fallback=settings.api.fallback_alias,
            alias=alias or None,
            version=None if version is None else str(version),
            naming=naming,
        )

    def aliases(self) -> tuple[str, ...]:
        """The aliases to look up, in order (none when a version is named)."""
        if self.version is not None:
            return ()
        if self.alias is not None:
            return (self.alias,)
        if self.fallback and self.fallback != self.primary:
            return (self.primary, self.fallback)
        return (self.primary,)


@dataclass(frozen=True)
class ModelChoice:
    """The version a command uses and how it was reached.

    Attributes:
        version: The registered version number.
        alias: The alias it was found through; None when named by version.
        fallback: Reached through ``api.fallback_alias`` because the primary was missing.
    """

    version: str
    alias: str | None
    fallback: bool = False

    @property
    def needs_warning(self) -> bool:
        """A fallback to anything but the champion: a version no gate has approved."""
        return self.fallback and self.alias != CHAMPION


def _may_fall_back(request: ModelRequest) -> bool:
    return request.environment != PRODUCTION or request.fallback == CHAMPION


def refusal_line(request: ModelRequest, fallback_version: str | None) -> str:
    """Why production will not use the fallback, and the two ways out."""
    primary, fallback = request.primary, request.fallback
    found = f" ({fallback} version {fallback_version} is not promoted)" if fallback_version else ""
    if primary == CHAMPION:
        fix = f"promote one with `uv run invoke deploy --project={request.project}`"
    else:
        fix = f"point alias {primary!r} at a version"
    return (
        f"production serves only the {primary}; {request.model} has no {primary}{found}: "
        f"{fix}, or name one with {request.naming}"
    )


def choose(request: ModelRequest, present: Mapping[str, str]) -> ModelChoice:
    """Apply the rule to what the registry holds.

    Args:
        request: What was asked for, where.
        present: Alias -> version for those of ``request.aliases()`` that exist.

    Returns:
        The version to use.

    Raises:
        ModelRefusedError: production, the primary alias missing, and the fallback not
            the champion (one line: what is missing and how to fix it).
        ModelNotFoundError: none of the aliases exists.
    """
    if request.version is not None:
        return ModelChoice(version=request.version, alias=None)
    aliases = request.aliases()
    first = aliases[0]
    if first in present:
        return ModelChoice(version=present[first], alias=first)
    for alias in aliases[1:]:
        if alias not in present:
            continue
        if not _may_fall_back(request):
            raise ModelRefusedError(refusal_line(request, present[alias]))
        return ModelChoice(version=present[alias], alias=alias, fallback=True)
    if len(aliases) > 1 and not _may_fall_back(request):
        raise ModelRefusedError(refusal_line(request, None))
    tried = ", ".join(aliases)
    raise ModelNotFoundError(
        f"registered model {request.model!r} has no version with alias {tried}; train one first"
    )


def fallback_warning(request: ModelRequest, choice: ModelChoice, metric: MetricReading) -> str:
    """The line that says which unapproved version is used instead of the primary."""
    return (
        f"no {request.primary} for {request.model}; serving {choice.alias} version "
        f"{choice.version} ({metric}) - not promoted by `invoke deploy`"
    )


def warn_loudly(line: str) -> None:
    """Print ``WARNING: <line>`` to stderr.

    Printed rather than logged: the configured log level or JSON format must not hide
    from the person at the terminal that the model in use was never approved.
    """
    print(f"WARNING: {line}", file=sys.stderr, flush=True)  # noqa: T201 - the CLI's voice


def card_metric(card: ModelCard) -> MetricReading:
    """The validation metric a card's registry tags record (training tags it by name)."""
    name = card.tags.get(VALIDATION_METRIC_TAG)
    raw = card.tags.get(name) if name else None
    try:
        value = None if raw is None else float(raw)
    except ValueError:
        value = None
    return MetricReading(name, value)


def check_served_card(
    card: ModelCard, folder: Path, *, environment: str, api: ApiSettings
) -> str | None:
    """Refuse, in production, a materialized folder whose version was a fallback.

    Production serves the card's version only when it came through ``api.model_alias``
    (which ``serve --alias`` sets), through ``champion``, or was named by version (the
    card has no alias then). Elsewhere a fallback card is served with a warning.

    Returns:
        The warning to log, or None.

    Raises:
        ModelRefusedError: production and a version no one named (one line).
    """
    alias = card.alias
    if alias is None or alias in {api.model_alias, CHAMPION}:
        return None
    if environment == PRODUCTION:
        raise ModelRefusedError(
            f"production serves only the {api.model_alias}: {folder} holds {card.name} "
            f"version {card.version} through alias {alias!r}; materialize the "
            f"{api.model_alias} with `uv run invoke serve --materialize-only`, or name "
            f"that alias with MEDAI__API__MODEL_ALIAS={alias}"
        )
    request = ModelRequest(
        model=card.name,
        project=card.name,
        environment=environment,
        primary=api.model_alias,
        fallback=api.fallback_alias,
    )
    return fallback_warning(
        request, ModelChoice(card.version, alias, fallback=True), card_metric(card)
    )
