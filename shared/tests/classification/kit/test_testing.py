"""The kit's test support: the import trace parser, the server environment, schemathesis."""

from __future__ import annotations

import subprocess
import sys

import pytest

from medai.classification.testing import (
    ServerProcess,
    ServerStartError,
    imported_packages,
    server_environment,
)
from medai.testing import SCHEMA_CHECKS, schemathesis_argv


def test_imported_packages_reads_a_real_importtime_trace():
    traced = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import json, email.mime.text"],
        capture_output=True,
        text=True,
        check=True,
    )
    found = imported_packages("noise before\n" + traced.stderr)
    assert {"json", "email"} <= found
    assert "torch" not in found
    assert "noise" not in found


def test_the_server_environment_holds_no_registry_and_only_the_given_key(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://registry.example:5000")
    monkeypatch.setenv("MEDAI_API_KEYS_FILE", "/run/secrets/keys")
    env = server_environment(tmp_path, api_key="k" * 20, settings={"MEDAI__API__PORT": "9"})

    assert env["MEDAI__API__MODEL_DIR"] == str(tmp_path)
    assert env["MEDAI_API_KEYS"] == "k" * 20
    assert env["MEDAI__API__PORT"] == "9"
    assert env["MEDAI_ENV"] == "development"
    assert "MLFLOW_TRACKING_URI" not in env
    assert "MEDAI_API_KEYS_FILE" not in env
    assert "MEDAI_API_KEYS" not in server_environment(tmp_path, api_key=None)


def test_schemathesis_runs_every_check_with_the_key():
    argv = schemathesis_argv("http://127.0.0.1:9/openapi.json", "secret-key", max_examples=7)
    assert argv[:4] == [sys.executable, "-m", "schemathesis.cli", "run"]
    assert argv[argv.index("-H") + 1] == "X-API-Key: secret-key"
    assert argv[argv.index("--checks") + 1] == ",".join(SCHEMA_CHECKS)
    assert argv[argv.index("--max-examples") + 1] == "7"


def test_a_server_that_cannot_start_is_reported_with_its_log(tmp_path):
    env = server_environment(tmp_path / "missing", api_key=None)
    factory = "no_such_package.api.main:create_app"
    with pytest.raises(ServerStartError, match=rf"^{factory}: exited with 1:\n") as caught:
        ServerProcess.start(factory, env=env, log_path=tmp_path / "log")
    assert "No module named 'no_such_package'" in str(caught.value)
