import asyncio
import hmac
import json
import logging
import tempfile

import pytest
from pydantic import SecretStr
from starlette import formparsers

from medai.serving import ServingSettings, get_settings, key_matches
from medai.serving.auth import ApiKeyMiddleware, route_path

PROTECTED = ["/v1/model", "/metrics", "/docs", "/openapi.json"]


def test_without_keys_on_loopback_every_route_is_open(client):
    assert client.get("/v1/model").status_code == 200
    assert client.post("/v1/predict", content=b"abc").json() == {"bytes": 3, "model": "dummy"}
    assert client.get("/metrics").status_code == 200
    assert client.get("/openapi.json").status_code == 200


@pytest.mark.parametrize("path", PROTECTED)
def test_a_request_without_a_key_is_refused_with_the_error_schema(keyed_client, expect_error, path):
    response = keyed_client.get(path)
    error = expect_error(response, 401, "unauthorized")
    assert "X-API-Key" in error["message"]
    assert response.headers["www-authenticate"] == "Bearer"


def test_a_post_without_a_key_is_refused_before_the_body_is_used(keyed_client, expect_error):
    expect_error(keyed_client.post("/v1/predict", content=b"abc"), 401, "unauthorized")


@pytest.mark.parametrize(
    "headers",
    [
        {"X-API-Key": "wrong-key-0123456789abcdef"},
        {"Authorization": "Bearer wrong-key-0123456789abcdef"},
        {"Authorization": "Basic dGVzdDp0ZXN0"},
        {"X-API-Key": ""},
    ],
)
def test_a_wrong_key_is_refused(keyed_client, expect_error, headers):
    expect_error(keyed_client.get("/v1/model", headers=headers), 401, "unauthorized")


def test_a_prefix_of_a_valid_key_is_refused(keyed_client, expect_error, api_key):
    response = keyed_client.get("/v1/model", headers={"X-API-Key": api_key[:-1]})
    expect_error(response, 401, "unauthorized")


@pytest.mark.parametrize("path", PROTECTED)
def test_the_x_api_key_header_is_accepted(keyed_client, api_key, path):
    assert keyed_client.get(path, headers={"X-API-Key": api_key}).status_code == 200


def test_a_bearer_token_is_accepted(keyed_client, api_key):
    response = keyed_client.get("/v1/model", headers={"Authorization": f"Bearer {api_key}"})
    assert response.status_code == 200
    assert response.json()["name"] == "dummy"


def test_every_configured_key_is_accepted_for_rotation(keyed_client, other_key):
    response = keyed_client.post("/v1/predict", content=b"ab", headers={"X-API-Key": other_key})
    assert response.json() == {"bytes": 2, "model": "dummy"}


@pytest.mark.parametrize("path", ["/health", "/ready"])
def test_probes_need_no_key(keyed_client, path):
    assert keyed_client.get(path).status_code == 200


def test_auth_reads_the_settings_dependency_so_tests_can_override_it(client, expect_error, api_key):
    client.app.dependency_overrides[get_settings] = lambda: ServingSettings(api_keys=(api_key,))
    expect_error(client.get("/v1/model"), 401, "unauthorized")
    assert client.get("/v1/model", headers={"X-API-Key": api_key}).status_code == 200


def test_key_matches_compares_every_key_without_stopping_at_the_first_match(monkeypatch):
    calls = []
    real = hmac.compare_digest

    def counting(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", counting)
    keys = [SecretStr("a" * 16), SecretStr("b" * 16), SecretStr("c" * 16)]
    assert key_matches(["a" * 16], keys)
    assert len(calls) == 3
    assert not key_matches(["d" * 16], keys)


def test_key_matches_handles_non_ascii_input():
    assert not key_matches(["clé-non-ascii-0123456789"], [SecretStr("k" * 16)])


# The key is checked from the headers, before routing and before the body is read.

MULTIPART = "multipart/form-data; boundary=xyz"
MALFORMED_FORM = b"--xyz\r\nContent-Disposition: form-data\r\n\r\nno name and no end"


def run_asgi(app, *, path="/v1/predict", headers=(), scope_type="http"):
    """Call ``app`` once with a ``receive`` that fails the test if the body is read."""
    sent = []

    async def receive():
        pytest.fail("receive() was called: the body of a refused request was read")

    async def send(message):
        sent.append(message)

    scope = {
        "type": scope_type,
        "method": "POST",
        "path": path,
        "root_path": "",
        "headers": [(name.lower().encode(), value.encode()) for name, value in headers],
    }
    asyncio.run(app(scope, receive, send))
    return sent


async def unreachable_app(_scope, _receive, _send):
    pytest.fail("the app behind the middleware was called for an unauthenticated request")


def test_a_request_without_a_key_is_answered_without_reading_its_body():
    middleware = ApiKeyMiddleware(unreachable_app, keys=(SecretStr("k" * 16),))
    sent = run_asgi(middleware, headers=[("content-length", "209715200")])
    start, body = sent
    assert start["status"] == 401
    headers = dict(start["headers"])
    assert headers[b"www-authenticate"] == b"Bearer"
    assert headers[b"connection"] == b"close"
    assert json.loads(body["body"])["error"]["code"] == "unauthorized"


def test_a_refusal_without_a_body_keeps_the_connection():
    middleware = ApiKeyMiddleware(unreachable_app, keys=(SecretStr("k" * 16),))
    start, _ = run_asgi(middleware, headers=[("content-length", "0")])
    assert start["status"] == 401
    assert b"connection" not in dict(start["headers"])


@pytest.mark.parametrize("path", ["/health", "/ready"])
def test_the_middleware_lets_probes_through_without_a_key(path):
    calls = []

    async def app(scope, _receive, _send):
        calls.append(scope["path"])

    run_asgi(ApiKeyMiddleware(app, keys=(SecretStr("k" * 16),)), path=path)
    assert calls == [path]


def test_the_middleware_matches_probes_below_a_root_path():
    calls = []

    async def app(scope, _receive, _send):
        calls.append(scope["path"])

    middleware = ApiKeyMiddleware(app, keys=(SecretStr("k" * 16),))

    async def ignore(message):
        pass

    scope = {"type": "http", "path": "/ct/health", "root_path": "/ct", "headers": []}
    asyncio.run(middleware(scope, None, ignore))
    assert calls == ["/ct/health"]
    assert route_path({"path": "/cthealth", "root_path": "/ct"}) == "/cthealth"


def test_a_websocket_without_a_key_is_refused_too():
    middleware = ApiKeyMiddleware(unreachable_app, keys=(SecretStr("k" * 16),))
    sent = run_asgi(middleware, path="/v1/stream", scope_type="websocket")
    assert sent[0]["type"] == "websocket.http.response.start"
    assert sent[0]["status"] == 401


def test_an_unknown_path_without_a_key_is_401_so_routes_are_not_revealed(
    keyed_client, expect_error, api_key
):
    expect_error(keyed_client.get("/v1/no-such-route"), 401, "unauthorized")
    expect_error(keyed_client.post("/admin", content=b"x"), 401, "unauthorized")
    response = keyed_client.get("/v1/no-such-route", headers={"X-API-Key": api_key})
    expect_error(response, 404, "not_found")


def test_a_malformed_multipart_body_without_a_key_is_401_not_400(keyed_client, expect_error):
    response = keyed_client.post(
        "/v1/upload", content=MALFORMED_FORM, headers={"content-type": MULTIPART}
    )
    expect_error(response, 401, "unauthorized")


def test_a_malformed_multipart_body_with_a_key_is_still_400(keyed_client, expect_error, api_key):
    headers = {"content-type": MULTIPART, "X-API-Key": api_key}
    response = keyed_client.post("/v1/upload", content=MALFORMED_FORM, headers=headers)
    expect_error(response, 400, "bad_request")


def test_a_form_without_a_key_is_never_spooled_to_disk(
    keyed_client, api_key, monkeypatch, tmp_path
):
    spooled = []

    class CountingSpool(formparsers.SpooledTemporaryFile):
        def __init__(self, *args, **kwargs):
            spooled.append(1)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(formparsers, "SpooledTemporaryFile", CountingSpool)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    files = {"file": ("scan.nii.gz", b"x" * 2_000_000, "application/gzip")}

    assert keyed_client.post("/v1/upload", files=files).status_code == 401
    assert spooled == []
    assert list(tmp_path.iterdir()) == []
    # The same form with the key is spooled: the counter does see uploads.
    response = keyed_client.post("/v1/upload", files=files, headers={"X-API-Key": api_key})
    assert response.json() == {"bytes": 2_000_000, "model": "dummy"}
    assert spooled == [1]


def test_a_refused_request_still_gets_its_access_log_line(keyed_client, caplog):
    caplog.set_level(logging.INFO, logger="medai.serving.access")
    response = keyed_client.post("/v1/predict", content=b"abc")
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "medai.serving.access"]
    assert [(line["route"], line["status"]) for line in lines] == [("/v1/predict", 401)]
    assert lines[0]["request_id"] == response.headers["x-request-id"]


def test_a_large_upload_without_a_key_is_refused_before_its_body_is_sent(live_server, api_key):
    server = live_server(api_keys=(api_key,))
    head = (
        "POST /v1/upload HTTP/1.1\r\nHost: test\r\n"
        f"Content-Type: {MULTIPART}\r\nContent-Length: 209715200\r\n"
        "Expect: 100-continue\r\n\r\n"
    )
    response = server.exchange(head.encode(), timeout=5)
    assert response.status == 401  # not "100 Continue": the server never asked for the body
    assert response.json()["error"]["code"] == "unauthorized"
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.closed
    assert response.seconds < 2
