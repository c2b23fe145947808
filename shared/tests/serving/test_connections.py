"""Slow, idle and surplus clients against a real uvicorn with the launcher's protocol."""

import json
import select
import time

import httpx
from uvicorn.importer import import_from_string
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from medai.serving import ServingSettings
from medai.serving.connections import GuardedH11Protocol, raw_error, served_settings
from medai.serving.launch import HTTP_PROTOCOL

API_KEY = "test-key-0123456789abcdef"
FAST = {"header_timeout_s": 0.5, "body_idle_timeout_s": 0.5, "keep_alive_s": 0.5}
SLACK = 1.5  # seconds a closing may take beyond its timeout on a busy 2-core machine


def post_head(length: int, *, key: str | None = API_KEY) -> bytes:
    lines = ["POST /v1/predict HTTP/1.1", "Host: test", f"Content-Length: {length}"]
    if key is not None:
        lines.append(f"X-API-Key: {key}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_the_launchers_protocol_string_names_the_guarded_protocol():
    assert import_from_string(HTTP_PROTOCOL) is GuardedH11Protocol


def test_the_limits_are_found_through_uvicorns_wrappers(make_app):
    app = make_app(header_timeout_s=3.0, max_connections=7)
    settings = served_settings(ProxyHeadersMiddleware(app))
    assert (settings.header_timeout_s, settings.max_connections) == (3.0, 7)


def test_an_app_without_serving_settings_gets_the_defaults():
    async def bare_app(scope, receive, send):  # pragma: no cover - never called
        pass

    assert served_settings(bare_app) == ServingSettings()


def test_a_raw_error_is_a_complete_closing_response_in_the_error_schema():
    head, _, body = raw_error(408, "request_timeout", "too slow").partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "HTTP/1.1 408 Request Timeout"
    assert "connection: close" in lines
    assert f"content-length: {len(body)}" in lines
    assert json.loads(body) == {
        "error": {
            "status": 408,
            "code": "request_timeout",
            "message": "too slow",
            "request_id": None,
        }
    }


def test_a_connection_that_sends_nothing_is_closed_silently_after_the_header_timeout(
    live_server,
):
    server = live_server(**FAST)
    with server.connect() as sock:
        response = server.read(sock)
    assert response.closed
    assert response.status is None
    assert 0.4 <= response.seconds <= 0.5 + SLACK


def test_a_request_head_sent_line_by_line_gets_408_and_is_closed(live_server):
    server = live_server(**FAST)
    started = time.monotonic()
    with server.connect() as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\n")
        for number in range(30):  # a slowloris: a header line every 0.1 s, never the end
            time.sleep(0.1)
            try:
                sock.sendall(f"X-Filler-{number}: x\r\n".encode())
            except (BrokenPipeError, ConnectionResetError):
                break
        response = server.read(sock, timeout=1)
    assert response.status == 408
    assert response.json()["error"]["code"] == "request_timeout"
    assert response.closed
    assert time.monotonic() - started <= 0.5 + SLACK + 1


def test_a_body_that_stops_gets_408_and_the_connection_is_closed(live_server, api_key):
    server = live_server(api_keys=(api_key,), **FAST)
    with server.connect() as sock:
        sock.sendall(post_head(1000) + b"x" * 10)
        response = server.read(sock)
    assert response.status == 408
    error = response.json()["error"]
    assert error["code"] == "request_timeout"
    assert error["message"] == "the request body timed out: nothing arrived for 0.5 s"
    assert response.headers["connection"] == "close"
    assert response.closed
    assert response.seconds <= 0.5 + SLACK


def test_a_trickling_body_gets_408_before_it_could_hold_the_connection_long(live_server, api_key):
    server = live_server(api_keys=(api_key,), body_min_bytes_per_s=1000, **FAST)
    started = time.monotonic()
    with server.connect() as sock:
        sock.sendall(post_head(10_000))
        for _ in range(100):  # a byte every 0.05 s: never idle for 0.5 s, far below the rate
            if select.select([sock], [], [], 0.05)[0]:  # the answer has come
                break
            try:
                sock.sendall(b"x")
            except (BrokenPipeError, ConnectionResetError):
                break
        response = server.read(sock, timeout=2)
    assert response.status == 408
    assert "slower than 1000 bytes/s" in response.json()["error"]["message"]
    assert response.closed
    assert time.monotonic() - started <= 0.5 + SLACK + 1


def test_a_slow_but_steady_body_is_served(live_server, api_key):
    server = live_server(api_keys=(api_key,), body_min_bytes_per_s=200, **FAST)
    with server.connect() as sock:
        sock.sendall(post_head(600))
        for _ in range(3):  # 200 bytes every 0.3 s: each wait under 0.5 s, at the rate
            time.sleep(0.3)
            sock.sendall(b"x" * 200)
        response = server.read(sock, until_closed=False)
    assert response.status == 200
    assert response.json() == {"bytes": 600, "model": "dummy"}


def test_fifty_idle_connections_do_not_stop_health_from_answering(live_server):
    server = live_server(header_timeout_s=30)
    idle = [server.connect() for _ in range(50)]
    try:
        started = time.monotonic()
        response = httpx.get(f"{server.url}/health", timeout=5)
        assert response.status_code == 200
        assert time.monotonic() - started < 1.0
    finally:
        for sock in idle:
            sock.close()


def test_head_health_answers_200_without_a_body_on_the_real_server(live_server, api_key):
    server = live_server(api_keys=(api_key,))
    for path in ("/health", "/ready"):
        response = httpx.head(f"{server.url}{path}", timeout=5)
        assert response.status_code == 200
        assert response.content == b""
        assert int(response.headers["content-length"]) > 0  # the GET body's length


def test_connections_over_the_cap_are_answered_503_in_the_error_schema(live_server):
    server = live_server(max_connections=3, header_timeout_s=30)
    idle = [server.connect() for _ in range(3)]
    time.sleep(0.2)  # let the server accept them
    try:
        response = server.exchange(b"GET /health HTTP/1.1\r\nHost: test\r\n\r\n")
        assert response.status == 503
        assert response.json()["error"]["code"] == "server_busy"
        assert response.headers["retry-after"] == "1"
        assert response.closed
    finally:
        for sock in idle:
            sock.close()
    time.sleep(0.2)
    assert httpx.get(f"{server.url}/health", timeout=5).status_code == 200


def test_an_idle_kept_alive_connection_is_closed_after_keep_alive_s(live_server):
    server = live_server(**FAST)
    with server.connect() as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: test\r\n\r\n")
        first = server.read(sock, until_closed=False)
        assert first.status == 200
        assert not first.closed
        after = server.read(sock)
    assert after.closed
    assert after.seconds <= 0.5 + SLACK


def test_requests_on_a_kept_alive_connection_each_get_their_own_head_deadline(live_server):
    server = live_server(header_timeout_s=0.5, keep_alive_s=5)
    with server.connect() as sock:
        for _ in range(3):  # 0.9 s in all: past a deadline counted from the connection
            time.sleep(0.3)
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: test\r\n\r\n")
            response = server.read(sock, until_closed=False)
            assert response.status == 200
            assert not response.closed
