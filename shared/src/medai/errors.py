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


class ResumeError(ValueError):
    """``--resume`` cannot continue: no such run, another project's, finished, or a bad checkpoint.

    Raised before any run is reopened or any checkpoint written; ``str()`` is one line.
    """


class TrainingPreempted(Exception):  # noqa: N818 - a stop asked for, not a failure of the code
    """SIGTERM stopped the training; its state is in the resumable checkpoint.

    The MLflow run ends KILLED, nothing is registered, and ``--resume=<run id>``
    continues it. ``str()`` is one line naming the epoch and how to continue.
    """

    def __init__(self, run_id: str, epoch: int) -> None:
        """Name the run and the epoch reached."""
        super().__init__(
            f"training stopped by SIGTERM in epoch {epoch}; its checkpoint is written: "
            f"continue it with --resume={run_id}"
        )
        self.run_id = run_id
        self.epoch = epoch
