"""Helpers for errors that third-party frameworks wrap.

MONAI re-raises any exception inside a transform as ``RuntimeError("applying transform
...")``, which hides the one-line, file-naming error our readers raised. Entry points
look through the chain for it.
"""

from __future__ import annotations

from typing import TypeVar

ErrorT = TypeVar("ErrorT", bound=BaseException)


def find_cause(error: BaseException, kinds: tuple[type[ErrorT], ...]) -> ErrorT | None:
    """The first exception of one of ``kinds`` in ``error``'s cause/context chain, or None."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, kinds):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


class NetworkContractError(ValueError):
    """A network that does not fit its data: channels in or out differ from the dataset's.

    Raised before training starts, so no run is opened and nothing is registered; ``str()``
    is one line naming both numbers.
    """
