"""cxr-cls against every class of hostile input (``medai.hostile``): server and command line.

Each member must be refused with a 4xx JSON error naming what is wrong (or, on the command
line, one ``error:`` line and status 2), cost the server less than 300 MB of resident
memory above idle, and leave the server serving.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import httpx
import pytest

from cxr_cls.cli import predict_main
from medai import hostile
from medai.testing import PeakMemory, schemathesis_argv

pytestmark = pytest.mark.integration

REFUSED = [*hostile.degenerate_radiographs(), *hostile.unaccepted_radiographs()]
MAX_GROWTH_MB = 300.0


def _ids(cases):
    return [case.name for case in cases]


def _assert_refused(response: httpx.Response, case) -> None:
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert error["status"] == response.status_code
    assert "\n" not in error["message"]
    assert not any(secret in response.text for secret in hostile.PLANTED_PHI)
    if case.attribute is not None:
        assert case.attribute in error["message"], error["message"]


def _read_until_closed(client: socket.socket) -> str:
    """Everything the server sends until it closes (head and body come in separate writes)."""
    chunks = []
    while chunk := client.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks).decode("latin-1")


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
    _assert_refused(response, case)
    assert growth < MAX_GROWTH_MB, f"{case.name}: the server grew by {growth:.0f} MB"
    _assert_serving(running_server)
    assert not any(secret in running_server.log_text() for secret in hostile.PLANTED_PHI)


def test_an_unauthenticated_upload_is_refused_before_its_body_is_read(running_server):
    host, port = running_server.url.removeprefix("http://").split(":")
    head = (
        "POST /v1/predict HTTP/1.1\r\n"
        f"Host: {host}\r\n"
        "Content-Type: multipart/form-data; boundary=x\r\n"
        f"Content-Length: {200 << 20}\r\n\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=10) as client:
        client.sendall(head.encode())
        answer = _read_until_closed(client)
    assert answer.startswith("HTTP/1.1 401"), answer[:200]
    _assert_serving(running_server)


@pytest.mark.parametrize(
    "sent",
    [b"POST /v1/predict HTTP/1.1\r\nHost: x\r\n", b""],
    ids=["half-a-request-head", "nothing"],
)
def test_a_client_that_stops_mid_head_is_dropped_within_the_deadline(running_server, sent):
    host, port = running_server.url.removeprefix("http://").split(":")
    started = time.perf_counter()
    with socket.create_connection((host, int(port)), timeout=30) as client:
        client.sendall(sent)
        answer = _read_until_closed(client)
    waited = time.perf_counter() - started
    assert waited < 10, f"held open {waited:.1f} s (deadline 3 s)"
    assert answer == "" or answer.startswith("HTTP/1.1 408"), answer[:200]
    _assert_serving(running_server)


def test_a_body_that_stops_gets_408_within_the_deadline(running_server, api_key):
    host, port = running_server.url.removeprefix("http://").split(":")
    head = (
        "POST /v1/predict HTTP/1.1\r\n"
        f"Host: {host}\r\n"
        f"X-API-Key: {api_key}\r\n"
        "Content-Type: multipart/form-data; boundary=x\r\n"
        "Content-Length: 100000\r\n\r\n--x\r\n"
    )
    started = time.perf_counter()
    with socket.create_connection((host, int(port)), timeout=30) as client:
        client.sendall(head.encode())
        answer = _read_until_closed(client)
    assert time.perf_counter() - started < 10
    assert answer.startswith("HTTP/1.1 408"), answer[:200]
    assert '"request_timeout"' in answer
    _assert_serving(running_server)


def test_head_health_answers_like_get(running_server):
    response = httpx.head(f"{running_server.url}/health", timeout=5)
    assert response.status_code == 200
    assert response.content == b""


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
    assert status == 2, err
    *warnings, last = err.splitlines()
    assert last.startswith("error: "), err
    # Before it: at most the development fallback's warning of which version would answer.
    assert all(line.startswith("WARNING: no champion") for line in warnings), err
    if case.attribute is not None:
        assert case.attribute in err
    assert not any(secret in err for secret in hostile.PLANTED_PHI)
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
