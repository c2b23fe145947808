"""cxr-cls against every class of hostile input (``medai.hostile``): server and command line.

Each member must be refused with a 4xx JSON error naming what is wrong (or, on the command
line, one ``error:`` line and status 2), cost the server less than 300 MB of resident
memory above idle, and leave the server serving.
"""

from __future__ import annotations

import subprocess
import sys
import time
from types import SimpleNamespace

import httpx
import pytest

from cxr_cls.cli import predict_main
from medai import hostile
from medai.testing import (
    ConnectionAbuseChecks,
    PeakMemory,
    assert_hostile_refused,
    assert_hostile_refused_in_one_line,
    schemathesis_argv,
)

pytestmark = pytest.mark.integration

REFUSED = [*hostile.degenerate_radiographs(), *hostile.unaccepted_radiographs()]
MAX_GROWTH_MB = 300.0


def _ids(cases):
    return [case.name for case in cases]


def _assert_serving(server) -> None:
    assert server.alive
    assert httpx.get(f"{server.url}/health", timeout=5).status_code == 200


@pytest.fixture(scope="module")
def peak_memory(running_server) -> PeakMemory:
    return PeakMemory(running_server.process.pid)


@pytest.mark.parametrize("case", REFUSED, ids=_ids(REFUSED))
def test_hostile_radiograph_is_a_4xx_that_costs_the_server_little(
    running_server, api_key, peak_memory, case
):
    peak_memory.reset()
    response = httpx.post(
        f"{running_server.url}/v1/predict",
        files={"file": ("Doe^Hostile.dcm", case.files[0])},
        headers={"X-API-Key": api_key},
        params={"heatmap": "all"},
        timeout=60,
    )
    growth = peak_memory.growth_mb()
    # One line per member (shown with -s): the figures of the hostile-input report.
    sys.stdout.write(f"hostile {case.name}: {response.status_code} +{growth:.1f} MB\n")
    assert_hostile_refused(response, case.attribute)
    assert growth < MAX_GROWTH_MB, f"{case.name}: the server grew by {growth:.0f} MB"
    _assert_serving(running_server)
    assert not any(secret in running_server.log_text() for secret in hostile.PLANTED_PHI)


@pytest.fixture
def abused_server(running_server, api_key):
    return SimpleNamespace(url=running_server.url, api_key=api_key)


class TestConnectionAbuse(ConnectionAbuseChecks):
    """Unauthenticated and slow clients (the server's deadlines are 3 s in tests)."""


@pytest.mark.parametrize("case", REFUSED, ids=_ids(REFUSED))
def test_invoke_predict_refuses_in_one_line_and_writes_nothing(
    case, trained_model, tmp_path, capsys
):
    source = tmp_path / "image.dcm"
    source.write_bytes(case.files[0])
    output = tmp_path / "out" / "result.json"
    overrides = [arg for item in trained_model.overrides for arg in ("--set", item)]
    status = predict_main([str(source), str(output), *overrides])
    err = capsys.readouterr().err
    assert_hostile_refused_in_one_line(status, err, case.attribute)
    assert not output.exists()


@pytest.mark.slow
def test_schemathesis_1000_cases_per_operation_find_no_server_error(
    running_server, api_key, tmp_path
):
    started = time.perf_counter()
    result = subprocess.run(
        schemathesis_argv(f"{running_server.url}/openapi.json", api_key, max_examples=1000),
        capture_output=True,
        text=True,
        timeout=1500,
        check=False,
        cwd=tmp_path,
    )
    sys.stdout.write(
        f"schemathesis (1000 examples per operation): {time.perf_counter() - started:.0f} s\n"
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    _assert_serving(running_server)
