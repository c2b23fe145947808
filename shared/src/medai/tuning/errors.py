"""A search's user errors: one line, exit status 2, as every medai command (``medai.cli``)."""

from __future__ import annotations

import sys
from collections.abc import Callable

EXIT_USER_ERROR = 2
EXIT_INCOMPLETE = 1


class TuningError(ValueError):
    """A search that cannot start or join: a bad option, storage or study; ``str()`` is one line."""


class SearchIncompleteError(RuntimeError):
    """The workers stopped before every trial finished (trials failed, or workers died)."""


def guarded(body: Callable[[], None]) -> int:
    """``medai.cli.run_guarded`` for a search: config, data and MLflow errors, and ours.

    Returns:
        0; 2 on a user error (one ``error:`` line); 1 when the search did not finish.
    """
    from medai.cli import run_guarded  # noqa: PLC0415 - keeps this module import-free

    try:
        return run_guarded(body)
    except TuningError as exc:
        print(f"error: {exc}", file=sys.stderr)  # noqa: T201 - the CLI's voice
        return EXIT_USER_ERROR
    except SearchIncompleteError as exc:
        print(f"error: {exc}", file=sys.stderr)  # noqa: T201
        return EXIT_INCOMPLETE
