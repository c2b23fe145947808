"""What an inference server needs to start safely: where to listen, limits, API keys.

API keys come from the environment (``MEDAI_API_KEYS``) or a mounted secret file
(``MEDAI_API_KEYS_FILE``), never from a YAML file in the repository. Every error here
names the variable, file or position of a bad key and never the key itself, because
startup errors end up in logs that more people can read than the secret store.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from starlette.requests import Request

from medai.config.sections import ApiSettings

KEYS_VARIABLE = "MEDAI_API_KEYS"
KEYS_FILE_VARIABLE = "MEDAI_API_KEYS_FILE"
MIN_KEY_LENGTH = 16
PLACEHOLDER_KEY = "changethis"
_KEY_ADVICE = "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'"


class ServingConfigError(ValueError):
    """A serving configuration the server refuses to start with; str() is one line."""


def key_problem(key: str) -> str | None:
    """Why ``key`` is not acceptable as an API key, or None; the text never quotes the key."""
    if PLACEHOLDER_KEY in key.lower():
        return f"contains the placeholder '{PLACEHOLDER_KEY}'; {_KEY_ADVICE}"
    if len(key) < MIN_KEY_LENGTH:
        return f"is shorter than {MIN_KEY_LENGTH} characters; {_KEY_ADVICE}"
    return None


class ServingSettings(BaseModel):
    """Settings of one inference server process.

    The timeouts and the connection cap mean what ``ApiSettings`` says of them; the body's
    are enforced by ``BodyTimeoutMiddleware``, the others by ``GuardedH11Protocol``.
    ``hide_input_in_errors`` keeps pydantic from printing the keys when validation fails.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1)
    max_body_mb: float = Field(default=256.0, gt=0)
    max_voxels: int = Field(default=512 * 512 * 1024, gt=0)
    header_timeout_s: float = Field(default=10.0, gt=0)
    body_idle_timeout_s: float = Field(default=15.0, gt=0)
    body_min_bytes_per_s: int = Field(default=65536, ge=1)
    keep_alive_s: float = Field(default=5.0, gt=0)
    max_connections: int = Field(default=1000, ge=1)
    environment: str = "development"
    api_keys: tuple[SecretStr, ...] = ()

    @field_validator("api_keys")
    @classmethod
    def _refuse_weak_keys(cls, keys: tuple[SecretStr, ...]) -> tuple[SecretStr, ...]:
        """Refuse short and placeholder keys however the settings were built."""
        for position, key in enumerate(keys, start=1):
            problem = key_problem(key.get_secret_value())
            if problem is not None:
                msg = f"API key {position} {problem}"
                raise ValueError(msg)
        return keys

    @property
    def max_body_bytes(self) -> int:
        """The request body limit in bytes, as the body-limit middleware needs it."""
        return int(self.max_body_mb * 1024 * 1024)

    @classmethod
    def from_api(
        cls,
        api: ApiSettings,
        *,
        environment: str,
        api_keys: tuple[SecretStr, ...] = (),
    ) -> ServingSettings:
        """Build from a project's ``api`` config section plus the keys from the environment."""
        return cls(
            host=api.host,
            port=api.port,
            workers=api.workers,
            max_body_mb=api.max_body_mb,
            max_voxels=api.max_voxels,
            header_timeout_s=api.header_timeout_s,
            body_idle_timeout_s=api.body_idle_timeout_s,
            body_min_bytes_per_s=api.body_min_bytes_per_s,
            keep_alive_s=api.keep_alive_s,
            max_connections=api.max_connections,
            environment=environment,
            api_keys=api_keys,
        )


def get_settings(request: Request) -> ServingSettings:
    """The settings ``create_app`` stored on the app; a dependency tests can override."""
    settings: ServingSettings = request.app.state.settings
    return settings


def _split_env_keys(value: str) -> list[tuple[str, str]]:
    """(where, key) pairs from a comma-separated list; blanks around keys are stripped."""
    keys = [part.strip() for part in value.split(",")]
    return [
        (f"{KEYS_VARIABLE}: key {position}", key)
        for position, key in enumerate((key for key in keys if key), start=1)
    ]


def _read_key_file(value: str) -> list[tuple[str, str]]:
    """(where, key) pairs from a key file: one key a line, '#' comment lines and blanks skipped."""
    path = Path(value).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or type(error).__name__
        msg = f"{KEYS_FILE_VARIABLE}={path}: cannot read the key file ({reason})"
        raise ServingConfigError(msg) from None
    pairs: list[tuple[str, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        key = line.strip()
        if key and not key.startswith("#"):
            pairs.append((f"{KEYS_FILE_VARIABLE}={path}: line {number}", key))
    return pairs


def _unique_checked(pairs: Iterable[tuple[str, str]]) -> tuple[SecretStr, ...]:
    """Check every key's strength (naming where it came from) and drop repeats, in order."""
    seen: set[str] = set()
    keys: list[SecretStr] = []
    for where, key in pairs:
        problem = key_problem(key)
        if problem is not None:
            msg = f"{where}: the API key {problem}"
            raise ServingConfigError(msg)
        if key not in seen:
            seen.add(key)
            keys.append(SecretStr(key))
    return tuple(keys)


def load_api_keys(environ: Mapping[str, str]) -> tuple[SecretStr, ...]:
    """The API keys configured in ``MEDAI_API_KEYS`` and/or ``MEDAI_API_KEYS_FILE``.

    Both may be set (e.g. a rotated-in key in the variable, the rest in a mounted secret);
    the result is their union. Several keys allow rotation without downtime.

    Args:
        environ: The process environment (``os.environ``), passed in so tests need no patching.

    Returns:
        The keys, wrapped so that printing or logging them shows ``**********``.

    Raises:
        ServingConfigError: The key file cannot be read, or a key is shorter than 16
            characters or the placeholder ``changethis``.
    """
    pairs = _split_env_keys(environ.get(KEYS_VARIABLE, ""))
    key_file = environ.get(KEYS_FILE_VARIABLE, "").strip()
    if key_file:
        pairs += _read_key_file(key_file)
    return _unique_checked(pairs)


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable only from this machine (127.0.0.0/8, ::1, localhost)."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_startup(settings: ServingSettings) -> list[str]:
    """Refuse unsafe configurations and return warnings to log loudly at startup.

    An inference server without API keys is acceptable only on a developer's machine,
    bound to loopback, outside production.

    Returns:
        Warnings, one line each.

    Raises:
        ServingConfigError: No API key in production, or no API key on a host reachable
            from other machines.
    """
    if settings.api_keys:
        return []
    sources = f"{KEYS_VARIABLE} or {KEYS_FILE_VARIABLE}"
    if settings.environment == "production":
        msg = f"refusing to start: production needs at least one API key ({sources})"
        raise ServingConfigError(msg)
    if not is_loopback(settings.host):
        msg = (
            f"refusing to start: no API key and host {settings.host!r} is reachable from other"
            f" machines; set {sources}, or bind to 127.0.0.1"
        )
        raise ServingConfigError(msg)
    warning = (
        f"NO API KEY: every route is open; listening on {settings.host}, so the server is"
        f" only reachable from this machine. Set {sources} before exposing it."
    )
    return [warning]
