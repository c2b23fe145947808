"""Secret keys for keyed pseudonyms: read from a file, never from the command line or git.

A key on the command line lands in shell history and ``ps``; a key in the config lands in
git. So a key is a file (mode 0600, outside the repo in production) named by
``--key-file`` or ``MEDAI_PSEUDONYM_KEY_FILE``. Production refuses to run without one of
at least ``MIN_KEY_BYTES`` bytes (an HMAC key shorter than its 32-byte output is the
weak point). Outside production a missing key is made once, at random, under the repo's
``.medai/`` (git-ignored), so a developer's runs keep stable pseudonyms.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path

__all__ = [
    "DEVELOPMENT_KEY_PATH",
    "KEY_FILE_VARIABLE",
    "MIN_KEY_BYTES",
    "PrivacyKeyError",
    "platform_key",
    "read_key_file",
]

MIN_KEY_BYTES = 32
KEY_FILE_VARIABLE = "MEDAI_PSEUDONYM_KEY_FILE"
DEVELOPMENT_KEY_PATH = Path(".medai") / "pseudonym.key"
_MAX_KEY_BYTES = 4096


class PrivacyKeyError(ValueError):
    """No usable key: missing, unreadable, too short or too long. ``str()`` is one line."""


def read_key_file(path: Path) -> bytes:
    """The key held by ``path``: its bytes, less one trailing newline.

    Raises:
        PrivacyKeyError: the file is missing, unreadable, shorter than ``MIN_KEY_BYTES``
            or longer than 4 KiB (not a key file); the message names the file and sizes.
    """
    try:
        if path.stat().st_size > _MAX_KEY_BYTES:
            msg = f"key file {path}: over {_MAX_KEY_BYTES} bytes, not a key file"
            raise PrivacyKeyError(msg)
        key = path.read_bytes()
    except FileNotFoundError:
        msg = f"key file {path}: no such file"
        raise PrivacyKeyError(msg) from None
    except IsADirectoryError:
        msg = f"key file {path}: is a folder, expected a file"
        raise PrivacyKeyError(msg) from None
    except OSError as error:
        msg = f"key file {path}: cannot be read ({error.strerror or error})"
        raise PrivacyKeyError(msg) from None
    key = key.removesuffix(b"\n").removesuffix(b"\r")
    if len(key) < MIN_KEY_BYTES:
        msg = (
            f"key file {path}: {len(key)} bytes, expected at least {MIN_KEY_BYTES} "
            '(make one with: python -c "import secrets; print(secrets.token_hex(32))" > FILE)'
        )
        raise PrivacyKeyError(msg)
    return key


def platform_key(
    repo_root: Path,
    environment: str,
    *,
    key_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> bytes:
    """The pseudonym key of this run: ``key_file``, else ``$MEDAI_PSEUDONYM_KEY_FILE``.

    Outside production, with neither, the repo's development key (made on first use).

    Raises:
        PrivacyKeyError: production without a key file, or a key file that is not usable.
    """
    env = os.environ if environ is None else environ
    named = key_file or (Path(env[KEY_FILE_VARIABLE]) if env.get(KEY_FILE_VARIABLE) else None)
    if named is not None:
        return read_key_file(named)
    if environment == "production":
        msg = (
            f"production needs a pseudonym key: set {KEY_FILE_VARIABLE} (or --key-file) "
            f"to a file of at least {MIN_KEY_BYTES} bytes"
        )
        raise PrivacyKeyError(msg)
    return _development_key(repo_root / DEVELOPMENT_KEY_PATH)


def _development_key(path: Path) -> bytes:
    """Read the development key, making it (0600, atomically) the first time."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{secrets.token_hex(4)}.partial")
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(secrets.token_hex(32))
        try:
            # link, not rename: a key another process made first is kept, not replaced
            os.link(partial, path)
        except FileExistsError:
            pass
        finally:
            partial.unlink()
    return read_key_file(path)
