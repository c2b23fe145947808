"""The one error type of configuration loading."""

from __future__ import annotations


class ConfigError(ValueError):
    """A configuration that cannot be used.

    ``str()`` is one line that names where the bad value came from (file, environment
    variable or ``--set`` override) and the dotted key, so a command-line entry point
    can print it and exit without a traceback.
    """

    def __init__(
        self, source: str, key: str | None, problem: str, *, hint: str | None = None
    ) -> None:
        """Build the message from its parts.

        Args:
            source: where the value came from, e.g. ``projects/ct-seg/configs/base.yaml``.
            key: dotted key such as ``train.epochs``; ``None`` for a whole-file problem.
            problem: what is wrong, ideally with the expected and the received value.
            hint: what to do about it, when the message alone does not say (a command
                line prints it as a second line, ``hint: ...``); not part of ``str()``.
        """
        self.source = source
        self.key = key
        self.problem = problem
        self.hint = hint
        where = f"{source}: {key}" if key else source
        super().__init__(f"{where}: {problem}")
