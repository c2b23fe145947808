"""Test support for classification projects: a real server process, and what it imported.

A project's integration tests start its real server (uvicorn, a materialized model
folder, an API key), send it real files and read its log; this module is that plumbing,
so a project's ``conftest.py`` keeps only what is its own. Nothing here is specific to
classification (a server from any app factory works); it lives with the kit that first
needed it. No pytest, httpx or heavy import: the standard library only.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from medai.serving.launch import HTTP_PROTOCOL

LOOPBACK = "127.0.0.1"
_IMPORT_LINE = re.compile(r"^import time:\s+\d+\s+\|\s+\d+\s+\|\s+(\S+)\s*$")
_POLL_SECONDS = 0.05
_STOP_SECONDS = 15.0


class ServerStartError(RuntimeError):
    """The server exited or did not get ready; the message ends with its log's tail."""


def free_port(host: str = LOOPBACK) -> int:
    """A port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _answers_200(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1.0) as response:  # noqa: S310 - loopback http
            return int(response.status) == 200  # noqa: PLR2004 - HTTP OK
    except (urllib.error.URLError, OSError):
        return False


@dataclass(frozen=True)
class ServerProcess:
    """A uvicorn process serving an app factory, with its output in a log file.

    Attributes:
        url: ``http://127.0.0.1:<port>``.
        log_path: Everything the process printed (stdout and stderr).
        process: The running process.
    """

    url: str
    log_path: Path
    process: subprocess.Popen[bytes]

    @classmethod
    def start(
        cls,
        app_factory: str,
        *,
        env: Mapping[str, str],
        log_path: Path,
        trace_imports: bool = False,
        timeout: float = 60.0,
    ) -> ServerProcess:
        """Start ``uvicorn --factory app_factory`` on a free loopback port; wait for ``/ready``.

        Args:
            app_factory: ``package.api.main:create_app``.
            env: The server's whole environment (model folder, API keys, ...).
            log_path: Where its output goes.
            trace_imports: Run Python with ``-X importtime``, so ``imported_packages``
                can tell from the log what the server process ever imported.
            timeout: Seconds to wait for ``/ready``.

        Raises:
            ServerStartError: the process exited first, or was not ready in time (it is
                stopped then).
        """
        port = free_port()
        argv = [sys.executable, *(["-X", "importtime"] if trace_imports else [])]
        argv += ["-m", "uvicorn", "--factory", app_factory, "--http", HTTP_PROTOCOL]
        argv += ["--host", LOOPBACK, "--port", str(port), "--no-access-log"]
        with log_path.open("wb") as log:
            process = subprocess.Popen(  # noqa: S603 - this interpreter, fixed argv
                argv, env=dict(env), stdout=log, stderr=subprocess.STDOUT
            )
        server = cls(f"http://{LOOPBACK}:{port}", log_path, process)
        deadline = time.monotonic() + timeout
        while not _answers_200(f"{server.url}/ready"):
            if process.poll() is not None or time.monotonic() > deadline:
                server.stop()
                state = f"exited with {process.returncode}" if process.returncode else "not ready"
                raise ServerStartError(f"{app_factory}: {state}:\n{server.log_tail()}")
            time.sleep(_POLL_SECONDS)
        return server

    @property
    def alive(self) -> bool:
        """Whether the process still runs."""
        return self.process.poll() is None

    def log_text(self) -> str:
        """Everything the server printed so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of the log, for error messages."""
        return "\n".join(self.log_text().splitlines()[-lines:])

    def stop(self) -> None:
        """Terminate, wait, kill if it must: never leave a server behind."""
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=_STOP_SECONDS)


def server_environment(
    model_dir: Path, *, api_key: str | None, settings: Mapping[str, str] | None = None
) -> dict[str, str]:
    """This process's environment for a development server on ``model_dir``.

    MLflow's tracking URI is dropped (a server needs no registry); ``settings`` adds
    config overrides such as ``{"MEDAI__API__MAX_BODY_MB": "4"}``.
    """
    env = {**os.environ, "MEDAI_ENV": "development", "MEDAI__API__MODEL_DIR": str(model_dir)}
    for name in ("MLFLOW_TRACKING_URI", "MEDAI_API_KEYS", "MEDAI_API_KEYS_FILE"):
        env.pop(name, None)
    if api_key is not None:
        env["MEDAI_API_KEYS"] = api_key
    env.update(settings or {})
    return env


def imported_packages(log_text: str) -> set[str]:
    """Top-level packages a ``-X importtime`` process imported, read from its log."""
    found = set()
    for line in log_text.splitlines():
        match = _IMPORT_LINE.match(line)
        if match:
            found.add(match.group(1).split(".")[0])
    return found
