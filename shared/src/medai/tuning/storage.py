"""Where a study lives: an RDB storage every worker shares, checked before anything starts.

The default is a SQLite file at the repo root (``optuna.db``), enough for workers on one
machine; workers on several machines share a server (``--storage=postgresql://...``,
any SQLAlchemy URL). The URL is checked by connecting, in seconds, before a study, an
MLflow run or a worker exists, so a typo or a stopped server is one line naming the URL
without its password. The storage refuses to create a trial that was not queued
(``QueuedTrialsOnly``): the search queues exactly ``--trials`` trials when it starts,
so however many workers ask at once, no more than those run (``medai.tuning.study``).
"""

from __future__ import annotations

import importlib.util
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from medai.tuning.errors import TuningError

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

DEFAULT_FILE = "optuna.db"
CONNECT_TIMEOUT_S = 5
SQLITE_BUSY_TIMEOUT_S = 60
"""Workers of one machine write the same SQLite file: wait for its lock, do not fail."""
_PASSWORD = re.compile(r"(://[^:/@]*:)[^@]*@")

StaleTrialCallback = Callable[["optuna.Study", "FrozenTrial"], None]


class StorageError(TuningError):
    """A storage URL that cannot be used; ``str()`` is one line without the password."""


class BudgetSpentError(RuntimeError):
    """Every queued trial has been taken: a worker asked for a trial beyond ``--trials``."""


def default_storage(repo_root: Path) -> str:
    """``sqlite:///<repo>/optuna.db``: the study file beside the embedded MLflow store."""
    return f"sqlite:///{(repo_root / DEFAULT_FILE).resolve()}"


def redacted(url: str) -> str:
    """``url`` with its password shown as ``***`` (also when it does not parse)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return _PASSWORD.sub(r"\1***@", url)


def with_installed_driver(url: URL) -> URL:
    """A bare ``postgresql://`` on the PostgreSQL driver that is installed.

    SQLAlchemy 2.1 takes a bare ``postgresql://`` to mean psycopg 3; where only psycopg2
    is installed (this repo's lock), the URL names it, as a user would expect it to work.
    """
    if url.drivername != "postgresql" or importlib.util.find_spec("psycopg") is not None:
        return url
    if importlib.util.find_spec("psycopg2") is not None:
        return url.set(drivername="postgresql+psycopg2")
    return url


def _parsed(url: str) -> URL:
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        raise StorageError(
            f"--storage {redacted(url)!r} is not a database URL; expected e.g. "
            "postgresql://USER:PASSWORD@HOST:5432/DB or sqlite:///PATH/optuna.db"
        ) from None
    return with_installed_driver(parsed)


def _connect_args(url: URL) -> dict[str, Any]:
    backend = url.get_backend_name()
    if backend == "sqlite":
        return {"timeout": SQLITE_BUSY_TIMEOUT_S}
    if backend in {"postgresql", "mysql", "mariadb"}:
        return {"connect_timeout": CONNECT_TIMEOUT_S}
    return {}


def check_storage(url: str) -> str:
    """Connect to ``url`` once; return it as Optuna is to open it.

    Raises:
        StorageError: not a URL, an in-memory or unreachable database, a SQLite file in a
            missing folder, or no driver for it: one line naming the URL without password.
    """
    parsed = _parsed(url)
    shown = redacted(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database in {"", ":memory:"}:
            raise StorageError(
                f"--storage {shown}: an in-memory SQLite database cannot be shared by workers; "
                "name a file, sqlite:///PATH/optuna.db"
            )
        if not Path(database).parent.is_dir():
            raise StorageError(
                f"cannot open study storage {shown}: folder {Path(database).parent} does not exist"
            )
    try:
        engine = create_engine(parsed, poolclass=NullPool, connect_args=_connect_args(parsed))
    except (NoSuchModuleError, ModuleNotFoundError) as exc:
        raise StorageError(
            f"cannot open study storage {shown}: no database driver for "
            f"{parsed.drivername} ({exc}); install it, or name one (postgresql+psycopg2://...)"
        ) from None
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        raise StorageError(f"cannot reach study storage {shown}: {_first_line(exc)}") from None
    finally:
        engine.dispose()
    return parsed.render_as_string(hide_password=False)


def _first_line(exc: SQLAlchemyError) -> str:
    original = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(original).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def open_storage(
    url: str,
    *,
    heartbeat_s: int | None,
    grace_s: int | None,
    on_stale: StaleTrialCallback | None,
) -> optuna.storages.RDBStorage:
    """Optuna's RDB storage of ``url`` (checked already), creating no trials but queued ones.

    Args:
        url: What ``check_storage`` returned.
        heartbeat_s: How often a running trial records that it lives (None: no heartbeat,
            for the launcher, which runs no trial).
        grace_s: A running trial silent this long is failed.
        on_stale: Called, in whichever worker notices, on each trial failed that way.
    """
    import optuna  # noqa: PLC0415 - optuna only once the inputs are checked
    from optuna.exceptions import ExperimentalWarning  # noqa: PLC0415

    class QueuedTrialsOnly(optuna.storages.RDBStorage):
        """Creates a trial only from a template: a queued trial or a retry of a failed one.

        ``Study.ask`` creates a fresh trial when the queue is empty; here it raises
        ``BudgetSpentError`` instead, atomically with the queue's pop, so the number of
        trials is the number queued, never what racing workers counted. The check sits
        in ``_create_new_trial``, the one method that both the public
        ``create_new_trial`` and Optuna's cache in front of every RDB storage call (the
        worker tests fail if a newer Optuna goes around it).
        """

        def _create_new_trial(
            self, study_id: int, template_trial: FrozenTrial | None = None
        ) -> FrozenTrial:
            if template_trial is None:
                raise BudgetSpentError("every queued trial of the study has been taken")
            return super()._create_new_trial(study_id, template_trial)

    parsed = make_url(url)
    with warnings.catch_warnings():
        # The heartbeat is marked experimental in Optuna 5; it is what retries dead workers.
        warnings.simplefilter("ignore", ExperimentalWarning)
        return QueuedTrialsOnly(
            url,
            engine_kwargs={"connect_args": _connect_args(parsed), "pool_pre_ping": True},
            heartbeat_interval=heartbeat_s,
            grace_period=grace_s,
            heartbeat_stale_trial_callback=on_stale,
        )
