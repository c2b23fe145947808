import hmac

import pytest
from pydantic import SecretStr

from medai.serving import ServingSettings, get_settings, key_matches

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
