"""Throwaway PostgreSQL and MLflow tracking servers on free local ports, for tests and local work.

The integration test of the MLflow server mode (tests/integration/test_mlflow_server.py)
runs the users' commands against a real ``mlflow server`` whose backend store is a real
PostgreSQL, as in docker/docker-compose.yml but without Docker: PostgreSQL from the
Debian package ``postgresql`` (its binaries live in ``/usr/lib/postgresql/<major>/bin``,
off PATH), MLflow from the root venv's ``mlflow-server`` group. A developer gets the same
pair with::

    uv run python -m tools.services        # prints MLFLOW_TRACKING_URI; Ctrl-C stops both

Everything is discarded when the context (or the command) ends. PostgreSQL refuses to run
as root, so when this runs as root the cluster is created and run by an unprivileged
account (``postgres`` if the package created it, else ``nobody``), in a private folder
under the system temp dir that this account owns: short enough for PostgreSQL's socket
path limit and reachable by it, unlike pytest's root-only ``/tmp/pytest-of-root``.
Connections are trusted without a password and only on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

HOST = "127.0.0.1"
DATABASE = "mlflow"
DB_SUPERUSER = "mlflow"
"""The cluster's superuser, who owns the ``mlflow`` database; no password (trust on 127.0.0.1)."""
REQUIRED_BINARIES = ("initdb", "pg_ctl", "postgres", "createdb")
DEBIAN_BIN_DIRS = "/usr/lib/postgresql/*/bin"
"""Where the Debian/Ubuntu package installs the server binaries (one folder per major version)."""
UNPRIVILEGED_USERS = ("postgres", "nobody")
"""Accounts tried, in order, to run PostgreSQL when this process is root."""
LOG_TAIL_LINES = 20
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
SERVER_ENVIRONMENT = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
"""MLflow 3's job runner (GenAI judges, trace roll-ups) is unused here and costs a process."""
FAST_SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")
"""A throwaway cluster needs no crash safety; skipping fsync makes MLflow's migrations fast."""


class PostgresUnavailableError(RuntimeError):
    """No PostgreSQL server binaries on this machine; str() says how to install them."""


class ServiceError(RuntimeError):
    """A service failed to start; str() is one line followed by the tail of its log."""


@dataclass(frozen=True)
class PostgresServer:
    """A running throwaway PostgreSQL cluster.

    Attributes:
        url: SQLAlchemy URI of the ``mlflow`` database for ``--backend-store-uri``,
            ``postgresql+<driver>://mlflow@127.0.0.1:<port>/mlflow`` (see ``sqlalchemy_driver``).
        dsn: The libpq URI of the same database (``psql``, ``psycopg2.connect``).
        port: The TCP port it listens on (127.0.0.1 only).
        bin_dir: The folder of the binaries it runs from.
        log: Its server log (copied to the work dir when it stops).
    """

    url: str
    dsn: str
    port: int
    bin_dir: Path
    log: Path


def sqlalchemy_driver(installed: Callable[[str], bool] | None = None) -> str:
    """The PostgreSQL driver to name in a SQLAlchemy URI: ``psycopg`` (3) or ``psycopg2``.

    A bare ``postgresql://`` means psycopg 3 since SQLAlchemy 2.1, and psycopg2 before;
    naming the installed driver works with either.

    Args:
        installed: Whether a module can be imported; default ``importlib.util.find_spec``.

    Raises:
        PostgresUnavailableError: neither driver is installed.
    """
    installed = installed or (lambda name: importlib.util.find_spec(name) is not None)
    for driver in ("psycopg", "psycopg2"):
        if installed(driver):
            return driver
    raise PostgresUnavailableError(
        "no PostgreSQL driver for MLflow: install psycopg or psycopg2-binary "
        "(uv sync installs psycopg2-binary with the dev group)"
    )


def free_port(host: str = HOST) -> int:
    """A TCP port nothing listens on right now (the OS picks it; a race is possible but rare)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _has_binaries(folder: Path) -> bool:
    return all((folder / name).is_file() for name in REQUIRED_BINARIES)


def _version_key(folder: Path) -> tuple[int, ...]:
    """``/usr/lib/postgresql/9.6/bin`` -> (9, 6); a folder not named by a version sorts first."""
    parts = folder.parent.name.split(".")
    return tuple(int(part) for part in parts) if all(p.isdigit() for p in parts) else (-1,)


def debian_bin_dirs(root: Path = Path("/")) -> list[Path]:
    """The Debian package's binary folders under ``root``, newest major version first."""
    pattern = DEBIAN_BIN_DIRS.lstrip("/")
    return sorted(root.glob(pattern), key=_version_key, reverse=True)


def find_postgres_bin(path: str | None = None, candidates: Iterable[Path] | None = None) -> Path:
    """The folder holding initdb, pg_ctl, postgres and createdb.

    ``initdb`` on PATH wins (a symlink is followed to the folder that has its siblings);
    else the newest ``/usr/lib/postgresql/<major>/bin``, where Debian installs them.

    Args:
        path: The search path for ``initdb``; default ``$PATH``.
        candidates: Folders to try after PATH; default the Debian folders.

    Raises:
        PostgresUnavailableError: no folder has all four, naming the Debian package.
    """
    on_path = shutil.which("initdb", path=path)
    folders: list[Path] = []
    if on_path is not None:
        folders += [Path(on_path).parent, Path(on_path).resolve().parent]
    if candidates is None:
        candidates = debian_bin_dirs()
    folders += list(candidates)
    for folder in folders:
        if _has_binaries(folder):
            return folder
    raise PostgresUnavailableError(
        f"PostgreSQL server binaries ({', '.join(REQUIRED_BINARIES)}) not found on PATH or in "
        f"{DEBIAN_BIN_DIRS}; install the Debian package: apt-get install postgresql"
    )


def service_user(
    euid: int, exists: Callable[[str], bool], candidates: Sequence[str] = UNPRIVILEGED_USERS
) -> str | None:
    """The account PostgreSQL must run as: None (this process's own) unless we are root.

    Args:
        euid: This process's effective user id.
        exists: Whether an account of that name exists.
        candidates: Accounts to try, in order.

    Raises:
        PostgresUnavailableError: root, and none of the candidates exists.
    """
    if euid != 0:
        return None
    for name in candidates:
        if exists(name):
            return name
    raise PostgresUnavailableError(
        "PostgreSQL refuses to run as root and none of the accounts "
        f"{', '.join(candidates)} exists to run it; create one (apt-get install postgresql does)"
    )


def _account_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def as_user(user: str | None, argv: Sequence[str]) -> list[str]:
    """``argv`` run as ``user`` (``runuser -u USER --``), or unchanged for None."""
    return [*argv] if user is None else ["runuser", "-u", user, "--", *argv]


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of a log, or a note that there is none."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:]) or f"({path} is empty)"


def _run(argv: Sequence[str], what: str, log: Path | None = None, cwd: Path | None = None) -> None:
    """Run a setup command; its failure is a ServiceError with its output (or log) tail.

    ``cwd`` matters when another account runs it: initdb fails in a folder (such as
    root's home) that the account cannot enter.

    Raises:
        ServiceError: the command failed.
    """
    try:
        result = subprocess.run(  # noqa: S603 - argv built here from found binaries
            argv, capture_output=True, text=True, check=False, timeout=START_TIMEOUT_S, cwd=cwd
        )
    except subprocess.TimeoutExpired:
        tail = f"\n--- {log.name} ---\n{log_tail(log)}" if log is not None else ""
        raise ServiceError(f"{what} did not finish within {START_TIMEOUT_S:.0f} s{tail}") from None
    if result.returncode != 0:
        output = (result.stderr or result.stdout).strip().splitlines()[-LOG_TAIL_LINES:]
        detail = "\n".join(output)
        if log is not None:
            detail += f"\n--- {log.name} ---\n{log_tail(log)}"
        raise ServiceError(f"{what} failed (exit status {result.returncode})\n{detail}")


def _private_dir(user: str | None) -> Path:
    """A fresh folder under the system temp dir, owned by ``user`` (mode 0700)."""
    folder = Path(tempfile.mkdtemp(prefix="medai-pg-"))
    if user is not None:
        account = pwd.getpwnam(user)
        os.chown(folder, account.pw_uid, account.pw_gid)
    return folder


def _stop_postgres(user: str | None, pg_ctl: Sequence[str], cwd: Path) -> None:
    """``pg_ctl stop -m fast``, then ``-m immediate`` if that fails: never leave it running."""
    for mode in ("fast", "immediate"):
        try:
            stopped = subprocess.run(  # noqa: S603 - argv built from the found pg_ctl
                as_user(user, [*pg_ctl, "-m", mode, "-w", "-t", str(int(STOP_TIMEOUT_S)), "stop"]),
                capture_output=True,
                check=False,
                timeout=STOP_TIMEOUT_S + 5,
                cwd=cwd,
            )
        except subprocess.TimeoutExpired:
            continue
        if stopped.returncode == 0:
            return


@contextlib.contextmanager
def postgres_server(workdir: Path) -> Iterator[PostgresServer]:
    """A new PostgreSQL cluster with an empty ``mlflow`` database, stopped and removed on exit.

    The cluster lives in a private temp folder (see the module docstring); its log is
    copied to ``workdir/postgres.log`` when it stops, also after a failed start.

    Args:
        workdir: Where the log is kept (created if missing).

    Yields:
        The running server.

    Raises:
        PostgresUnavailableError: no binaries, or no account to run them as root.
        ServiceError: initdb, start or createdb failed (with the log tail).
    """
    bin_dir = find_postgres_bin()
    driver = sqlalchemy_driver()
    user = service_user(os.geteuid(), _account_exists)
    workdir.mkdir(parents=True, exist_ok=True)
    private = _private_dir(user)
    data, log = private / "data", private / "postgres.log"
    port = free_port()
    pg_ctl = [str(bin_dir / "pg_ctl"), "-D", str(data)]
    started = False
    try:
        _run(
            as_user(
                user,
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(data),
                    f"--username={DB_SUPERUSER}",
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--no-locale",
                    "--no-sync",
                ],
            ),
            "initdb",
            cwd=private,
        )
        options = " ".join(
            [f"-p {port}", f"-k {private}", f"-c listen_addresses={HOST}"]
            + [f"-c {setting}" for setting in FAST_SETTINGS]
        )
        started = True  # from here on a stop is attempted, even if the start fails midway
        _run(
            as_user(
                user,
                [
                    *pg_ctl,
                    "-l",
                    str(log),
                    "-o",
                    options,
                    "-w",
                    "-t",
                    str(int(START_TIMEOUT_S)),
                    "start",
                ],
            ),
            f"starting PostgreSQL on {HOST}:{port}",
            log,
            cwd=private,
        )
        _run(
            [
                str(bin_dir / "createdb"),
                f"--host={HOST}",
                f"--port={port}",
                f"--username={DB_SUPERUSER}",
                DATABASE,
            ],
            f"creating database {DATABASE!r}",
            log,
        )
        yield PostgresServer(
            url=f"postgresql+{driver}://{DB_SUPERUSER}@{HOST}:{port}/{DATABASE}",
            dsn=f"postgresql://{DB_SUPERUSER}@{HOST}:{port}/{DATABASE}",
            port=port,
            bin_dir=bin_dir,
            log=workdir / "postgres.log",
        )
    finally:
        if started:
            _stop_postgres(user, pg_ctl, private)
        with contextlib.suppress(OSError):
            shutil.copyfile(log, workdir / "postgres.log")
        shutil.rmtree(private, ignore_errors=True)


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:  # noqa: S310 - http
            return int(answer.status) == 200  # noqa: PLR2004 - HTTP OK
    except (urllib.error.URLError, OSError):
        return False


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group (MLflow's server spawns workers), SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def mlflow_server_command(backend_uri: str, artifacts: Path, port: int) -> list[str]:
    """``mlflow server`` with this backend store, proxied artifacts under ``artifacts``."""
    return [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        backend_uri,
        "--serve-artifacts",
        "--artifacts-destination",
        artifacts.resolve().as_uri(),
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        "1",
    ]


@contextlib.contextmanager
def mlflow_server(
    backend_uri: str, artifacts: Path, log: Path, timeout_s: float = START_TIMEOUT_S
) -> Iterator[str]:
    """``mlflow server`` on a free port, until the context ends (its process group is stopped).

    Artifacts are served through the server (``mlflow-artifacts:/``) from ``artifacts``,
    as in the compose file, where the destination is MinIO instead of a folder.

    Args:
        backend_uri: The backend (and registry) store, e.g. ``PostgresServer.url``.
        artifacts: Folder the server stores artifacts in (created if missing).
        log: The server's stdout and stderr.
        timeout_s: How long to wait for ``/health`` (the first start creates the tables).

    Yields:
        The tracking URI, ``http://127.0.0.1:<port>``.

    Raises:
        ServiceError: the server exited or did not answer in time, with its log tail.
    """
    artifacts.mkdir(parents=True, exist_ok=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://{HOST}:{port}"
    with log.open("wb") as sink:
        process = subprocess.Popen(  # noqa: S603 - this interpreter, fixed argv
            mlflow_server_command(backend_uri, artifacts, port),
            stdout=sink,
            stderr=subprocess.STDOUT,
            env={**os.environ, **SERVER_ENVIRONMENT},
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + timeout_s
        while not _healthy(url):
            if process.poll() is not None:
                raise ServiceError(
                    f"mlflow server exited with status {process.returncode} before answering "
                    f"on {url}\n--- {log} ---\n{log_tail(log)}"
                )
            if time.monotonic() > deadline:
                raise ServiceError(
                    f"mlflow server did not answer {url}/health within {timeout_s:.0f} s\n"
                    f"--- {log} ---\n{log_tail(log)}"
                )
            time.sleep(0.25)
        yield url
    finally:
        _stop_group(process)


def _interrupt(signum: int, frame: FrameType | None) -> None:  # noqa: ARG001 - signal API
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Start PostgreSQL and an MLflow server on it; print the URI; stop both on Ctrl-C."""
    parser = argparse.ArgumentParser(
        prog="python -m tools.services",
        description="A throwaway MLflow tracking server on PostgreSQL, for local work. "
        "The database is deleted when it stops.",
    )
    parser.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="where the logs and artifacts go (default: a new temp folder, deleted on exit)",
    )
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    with contextlib.ExitStack() as stack:
        workdir: Path = args.dir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        try:
            database = stack.enter_context(postgres_server(workdir))
            uri = stack.enter_context(
                mlflow_server(database.url, workdir / "artifacts", workdir / "mlflow-server.log")
            )
        except (PostgresUnavailableError, ServiceError) as exc:
            print(f"error: {exc}", file=sys.stderr)  # noqa: T201 - the command's voice
            return 2
        print(f"PostgreSQL: {database.url}")  # noqa: T201
        print(f"MLflow server: {uri} (logs in {workdir})")  # noqa: T201
        print(f"export MLFLOW_TRACKING_URI={uri}")  # noqa: T201
        print("Ctrl-C stops both and deletes the database.", flush=True)  # noqa: T201
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print("stopping", file=sys.stderr)  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
