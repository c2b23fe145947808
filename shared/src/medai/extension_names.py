"""Names a project gives its extensions (metrics, figures): one rule for every kind.

A project metric or figure ends up as MLflow keys (``<name>_<label>``), CSV columns and
file stems, beside the kind's own; so its name must be lower-case words joined by
underscores, must not be one of the kind's, and must be given once. Each kind's
``extensions`` module calls these when a project is declared, so a bad name stops the
import of its ``settings.py``, not an evaluation an hour into a run.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Final

_WORDS: Final = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)*")


def check_name(what: str, name: str, kind_names: Sequence[str]) -> None:
    """Refuse a ``what`` (``metric``, ``figure``) name that is no key of words or is the kind's.

    Raises:
        ValueError: naming the extension and what is wrong.
    """
    if not _WORDS.fullmatch(name):
        raise ValueError(f"{what} name {name!r}: expected lower-case words joined by underscores")
    if name in kind_names:
        raise ValueError(f"{what} name {name!r} is the kind's own; choose another")


def check_unique(what: str, names: Iterable[str]) -> None:
    """Refuse a name given twice (the second would overwrite the first's values).

    Raises:
        ValueError: naming the duplicated one.
    """
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"{what} {name!r} is given twice")
        seen.add(name)
