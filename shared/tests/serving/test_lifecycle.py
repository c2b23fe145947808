import logging
import threading
import time

import pytest

from medai.serving import BundleError


def test_health_is_always_ok(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.parametrize("path", ["/health", "/ready"])
def test_head_on_a_probe_answers_like_get_without_a_body(keyed_client, path):
    response = keyed_client.head(path)
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-type"] == "application/json"


def test_head_on_ready_is_503_while_the_model_loads(make_client, dummy_model):
    release = threading.Event()

    def slow_loader():
        release.wait(timeout=10)
        return dummy_model

    client = make_client(load_model=slow_loader, wait=False)
    assert client.head("/ready").status_code == 503
    release.set()


def test_ready_is_503_while_the_model_loads_then_200(make_client, expect_error, dummy_model):
    release = threading.Event()

    def slow_loader():
        release.wait(timeout=10)
        return dummy_model

    client = make_client(load_model=slow_loader, wait=False)
    # The lifespan returned at once: liveness answers while the model is still loading.
    assert client.get("/health").status_code == 200
    error = expect_error(client.get("/ready"), 503, "not_ready")
    assert "loading" in error["message"]
    expect_error(client.post("/v1/predict", content=b"x"), 503, "not_ready")

    release.set()
    client.app.state.model_loader.join(timeout=5)
    response = client.get("/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "model": "dummy", "version": "3"}
    assert client.post("/v1/predict", content=b"x").status_code == 200


def test_a_model_that_fails_to_load_keeps_ready_503_with_the_reason(
    make_client, expect_error, caplog
):
    def broken_loader():
        msg = "/models/ct-seg/metadata.json: missing; is this a materialized model?"
        raise BundleError(msg)

    with caplog.at_level(logging.ERROR, logger="medai.serving"):
        client = make_client(load_model=broken_loader)
    error = expect_error(client.get("/ready"), 503, "not_ready")
    assert error["message"].startswith("model failed to load: BundleError: /models/ct-seg/")
    time.sleep(0.01)
    assert client.get("/ready").status_code == 503
    expect_error(client.get("/v1/model"), 503, "not_ready")
    failures = [r for r in caplog.records if "model failed to load" in r.getMessage()]
    assert len(failures) == 1
    assert "BundleError" in failures[0].getMessage()
    assert client.get("/health").status_code == 200


def test_model_info_describes_the_loaded_model(client):
    assert client.get("/v1/model").json() == {
        "name": "dummy",
        "version": "3",
        "alias": "champion",
        "run_id": "0123456789abcdef",
        "signature": {"inputs": [{"type": "tensor", "dtype": "float32", "shape": [-1, 1]}]},
        "tags": {"git_commit": "abc1234"},
    }


def test_the_card_is_published_on_app_state(client):
    assert client.app.state.model_card.name == "dummy"


def test_metrics_count_prediction_requests(client):
    client.post("/v1/predict", content=b"x")
    text = client.get("/metrics").text
    assert 'handler="/v1/predict"' in text
    assert "http_requests_total" in text
