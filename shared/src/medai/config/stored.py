"""Read back a settings section stored with a model version (a tag or a model card).

A model keeps the settings it was trained with (e.g. its preprocessing), whatever
today's config says; a stored section that no longer validates comes from older code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

SectionT = TypeVar("SectionT", bound=BaseModel)


def stored_section(
    stored: str | Mapping[str, Any] | None, current: SectionT, where: str, *, section: str
) -> SectionT:
    """The section as stored (JSON text or a mapping), or ``current`` when none was stored.

    Args:
        stored: The stored section: JSON text, a mapping, or nothing.
        current: The config's section; its type validates ``stored``.
        where: What the section was stored with (``name version 3``), for the message.
        section: The section's name in the config (``preprocessing``), for the message.

    Raises:
        ValueError: the stored section does not validate (a model from older code); the
            message names ``where`` and says to train again.
    """
    if not stored:
        return current
    kind = type(current)
    try:
        if isinstance(stored, str):
            return kind.model_validate_json(stored)
        return kind.model_validate(stored)
    except ValidationError as exc:
        problem = exc.errors(include_url=False)[0]
        key = ".".join(str(part) for part in problem["loc"])
        raise ValueError(
            f"{where}: its {section} does not fit this code ({key}: {problem['msg']}); "
            "train it again with the current code"
        ) from None
