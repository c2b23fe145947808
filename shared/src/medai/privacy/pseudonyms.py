"""Keyed pseudonyms: the same name under the same key, nothing to learn from it without."""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["pseudonym"]

_HEX_DIGITS = 16


def pseudonym(key: bytes, value: str, *, prefix: str = "case") -> str:
    """``<prefix>-<16 hex digits>``: an HMAC-SHA256 of ``value`` under ``key``, shortened.

    64 bits keep collisions away for any dataset a hospital holds (a 50% chance needs
    about 4 billion cases) and stay readable in a table. Deterministic, so a case keeps
    its pseudonym across runs of one key; keyed, so a list of MRNs or file names cannot
    be hashed and matched against it.
    """
    digest = hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()
    return f"{prefix}-{digest[:_HEX_DIGITS]}"
