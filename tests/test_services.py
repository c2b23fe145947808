"""tools.services without PostgreSQL or MLflow: discovery, the account choice, process handling."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest
from tools import services
from tools.services import (
    REQUIRED_BINARIES,
    PostgresUnavailableError,
    ServiceError,
    as_user,
    debian_bin_dirs,
    find_postgres_bin,
    free_port,
    log_tail,
    mlflow_server,
    mlflow_server_command,
    service_user,
    sqlalchemy_driver,
)


def fake_binaries(folder: Path, names=REQUIRED_BINARIES) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_text("#!/bin/sh\n")
        (folder / name).chmod(0o755)
    return folder


def test_free_port_can_be_bound_right_away():
    port = free_port()

    assert 1024 <= port <= 65535
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))  # raises if something held it


def test_without_binaries_the_error_names_the_debian_package(tmp_path):
    with pytest.raises(PostgresUnavailableError) as caught:
        find_postgres_bin(path=str(tmp_path), candidates=[tmp_path / "nothing"])

    assert "apt-get install postgresql" in str(caught.value)
    assert "initdb" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_an_initdb_symlink_on_path_leads_to_the_folder_with_its_siblings(tmp_path):
    real = fake_binaries(tmp_path / "usr/lib/postgresql/15/bin")
    on_path = tmp_path / "usr/local/bin"
    on_path.mkdir(parents=True)
    (on_path / "initdb").symlink_to(real / "initdb")  # like /usr/local/bin/initdb here

    assert find_postgres_bin(path=str(on_path), candidates=[]) == real


def test_a_folder_missing_one_binary_is_passed_over(tmp_path):
    partial = fake_binaries(tmp_path / "partial", names=("initdb", "pg_ctl", "postgres"))
    complete = fake_binaries(tmp_path / "complete")

    assert find_postgres_bin(path="", candidates=[partial, complete]) == complete


def test_debian_folders_come_newest_major_version_first(tmp_path):
    for major in ("9.6", "15", "16", "10"):
        fake_binaries(tmp_path / "usr/lib/postgresql" / major / "bin")

    found = [folder.parent.name for folder in debian_bin_dirs(tmp_path)]

    assert found == ["16", "15", "10", "9.6"]


@pytest.mark.parametrize(
    ("euid", "accounts", "expected"),
    [
        (1000, {"postgres", "nobody"}, None),  # not root: run as ourselves
        (0, {"postgres", "nobody"}, "postgres"),
        (0, {"nobody"}, "nobody"),
    ],
)
def test_postgres_runs_unprivileged_only_when_we_are_root(euid, accounts, expected):
    assert service_user(euid, accounts.__contains__) == expected


def test_root_without_an_unprivileged_account_is_refused():
    with pytest.raises(PostgresUnavailableError, match="refuses to run as root"):
        service_user(0, lambda _name: False)


def test_commands_are_wrapped_in_runuser_only_for_another_account():
    assert as_user(None, ["initdb", "-D", "x"]) == ["initdb", "-D", "x"]
    assert as_user("postgres", ["initdb"]) == ["runuser", "-u", "postgres", "--", "initdb"]


@pytest.mark.parametrize(
    ("installed", "expected"),
    [({"psycopg", "psycopg2"}, "psycopg"), ({"psycopg2"}, "psycopg2")],
)
def test_the_uri_names_the_installed_postgresql_driver(installed, expected):
    assert sqlalchemy_driver(installed.__contains__) == expected


def test_no_postgresql_driver_is_a_clear_error():
    with pytest.raises(PostgresUnavailableError, match="psycopg2-binary"):
        sqlalchemy_driver(lambda _name: False)


def test_the_server_command_proxies_artifacts_from_the_folder(tmp_path):
    argv = mlflow_server_command("postgresql+psycopg2://u@127.0.0.1:5/mlflow", tmp_path, 5123)

    assert argv[:4] == [sys.executable, "-m", "mlflow", "server"]
    assert (
        argv[argv.index("--backend-store-uri") + 1] == "postgresql+psycopg2://u@127.0.0.1:5/mlflow"
    )
    assert argv[argv.index("--artifacts-destination") + 1] == tmp_path.resolve().as_uri()
    assert "--serve-artifacts" in argv
    assert argv[argv.index("--port") + 1] == "5123"
    assert argv[argv.index("--host") + 1] == "127.0.0.1"


def test_log_tail_keeps_the_last_lines(tmp_path):
    log = tmp_path / "server.log"
    log.write_text("".join(f"line {n}\n" for n in range(50)))

    assert log_tail(log, lines=3) == "line 47\nline 48\nline 49"
    assert "no log" in log_tail(tmp_path / "missing.log")


HEALTHY_SERVER = """
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

class Health(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/health" else 404)
        self.end_headers()
    def log_message(self, *args):
        pass

HTTPServer(("127.0.0.1", int(sys.argv[1])), Health).serve_forever()
"""


def test_a_server_that_exits_early_is_reported_with_its_log(tmp_path, monkeypatch):
    crash = [sys.executable, "-c", "import sys; print('no such backend: bogus'); sys.exit(3)"]
    monkeypatch.setattr(services, "mlflow_server_command", lambda *_args: crash)

    with (
        pytest.raises(ServiceError) as caught,
        mlflow_server("bogus://", tmp_path, tmp_path / "log"),
    ):
        pytest.fail("the server should not have started")

    message = str(caught.value)
    assert message.splitlines()[0].startswith("mlflow server exited with status 3")
    assert "no such backend: bogus" in message


def test_a_server_that_never_answers_times_out_and_is_stopped(tmp_path, monkeypatch):
    pid_file = tmp_path / "pid"
    silent = [
        sys.executable,
        "-c",
        "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(60)",
        str(pid_file),
    ]
    monkeypatch.setattr(services, "mlflow_server_command", lambda *_args: silent)

    with (
        pytest.raises(ServiceError, match="did not answer"),
        mlflow_server("x://", tmp_path, tmp_path / "log", timeout_s=3.0),
    ):
        pytest.fail("the server should not have started")

    with pytest.raises(ProcessLookupError):  # stopped and reaped, not left running
        os.kill(int(pid_file.read_text()), 0)


def test_a_healthy_server_is_yielded_and_stopped_at_the_end(tmp_path, monkeypatch):
    monkeypatch.setattr(
        services,
        "mlflow_server_command",
        lambda _backend, _artifacts, port: [sys.executable, "-c", HEALTHY_SERVER, str(port)],
    )

    with mlflow_server("x://", tmp_path / "artifacts", tmp_path / "log") as uri:
        port = int(uri.rsplit(":", 1)[1])
        assert uri == f"http://127.0.0.1:{port}"
        assert (tmp_path / "artifacts").is_dir()

    with pytest.raises(ConnectionRefusedError):  # the server is gone
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
