"""Tracking errors importable without MLflow, so a CLI can catch them cheaply."""

from __future__ import annotations


class ModelNotFoundError(LookupError):
    """No registered version behind any of the requested aliases."""


class TrackingUnavailableError(ConnectionError):
    """The configured MLflow tracking server does not answer."""


class ModelRefusedError(ModelNotFoundError):
    """A version exists, but this environment may not use it without naming it.

    A kind of "not found" on purpose: every command already reports that as one line.
    """
