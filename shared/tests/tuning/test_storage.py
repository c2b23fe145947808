"""The storage URL is checked by connecting, in seconds, and never printed with its password."""

import socket
import time

import pytest
from sqlalchemy.engine import make_url

from medai.tuning.storage import (
    StorageError,
    check_storage,
    default_storage,
    redacted,
    with_installed_driver,
)

SECRET = "s3cr3t-pw"  # noqa: S105 - a made-up password the messages must hide


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_password_is_never_shown():
    assert redacted(f"postgresql://tuner:{SECRET}@db:5432/optuna") == (
        "postgresql://tuner:***@db:5432/optuna"
    )
    assert SECRET not in redacted(f"not a url://tuner:{SECRET}@db/x")


def test_the_default_is_a_sqlite_file_at_the_repo_root(tmp_path):
    assert default_storage(tmp_path) == f"sqlite:///{tmp_path.resolve() / 'optuna.db'}"


def test_a_sqlite_file_in_an_existing_folder_is_usable(tmp_path):
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    assert check_storage(url) == url
    assert (tmp_path / "optuna.db").is_file()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///{tmp}/missing/optuna.db", "folder {tmp}/missing does not exist"),
        ("sqlite://", "an in-memory SQLite database cannot be shared by workers"),
        ("optuna.db", "is not a database URL; expected e.g. postgresql://"),
        ("nosuchdb://u:" + SECRET + "@h/d", "no database driver for nosuchdb"),
    ],
)
def test_an_unusable_storage_is_one_line(tmp_path, url, expected):
    with pytest.raises(StorageError) as caught:
        check_storage(url.format(tmp=tmp_path))
    message = str(caught.value)
    assert expected.format(tmp=tmp_path) in message
    assert "\n" not in message
    assert SECRET not in message


def test_an_unreachable_postgresql_is_one_line_within_seconds():
    port = _free_port()
    url = f"postgresql://tuner:{SECRET}@127.0.0.1:{port}/optuna"
    started = time.monotonic()
    with pytest.raises(StorageError) as caught:
        check_storage(url)
    message = str(caught.value)
    assert time.monotonic() - started < 15
    assert message.startswith(
        f"cannot reach study storage postgresql://tuner:***@127.0.0.1:{port}/optuna: "
    )
    assert "\n" not in message
    assert SECRET not in message


def test_a_bare_postgresql_url_uses_the_installed_driver():
    url = with_installed_driver(make_url("postgresql://u@h/d"))
    assert url.drivername == "postgresql+psycopg2"  # this lock has psycopg2, not psycopg 3
    named = with_installed_driver(make_url("postgresql+pg8000://u@h/d"))
    assert named.drivername == "postgresql+pg8000"
