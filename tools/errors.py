"""The one error the task helpers raise: a one-line message and the exit status to stop with.

``tasks.py`` turns it into Invoke's ``Exit``; the helpers stay free of Invoke, so they
are plain functions that tests call directly.
"""

from __future__ import annotations


class ToolError(Exception):
    """Stop the task: print ``message`` (if any) as one line and exit with ``code``.

    ``message`` is None when a command already said why itself (a project script's own
    ``error:`` line), so the user reads the error once.
    """

    def __init__(self, message: str | None, code: int = 2) -> None:
        """Keep the line and the status; ``code`` 2 is a user error, as everywhere here."""
        super().__init__(message or f"exit status {code}")
        self.message = message
        self.code = code
