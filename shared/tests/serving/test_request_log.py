import json
import logging

import pytest

from medai.serving.request_log import accepted_request_id

ACCESS = "medai.serving.access"
FIELDS = {"request_id", "method", "route", "status", "latency_ms", "model_name", "model_version"}


@pytest.fixture
def server_log(caplog):
    """Everything the server side logged (httpx, the test's client, logs the URL itself)."""
    caplog.set_level(logging.DEBUG)

    def text():
        return "\n".join(
            f"{r.name} {r.getMessage()} {r.exc_text or ''}"
            for r in caplog.records
            if not r.name.startswith(("httpx", "httpcore"))
        )

    return text


@pytest.fixture
def access_lines(caplog):
    """The parsed access-log lines written so far."""
    caplog.set_level(logging.INFO)

    def lines():
        return [json.loads(r.getMessage()) for r in caplog.records if r.name == ACCESS]

    return lines


def test_one_json_line_per_request_with_the_fields(client, access_lines):
    response = client.post("/v1/predict", content=b"abcd")
    assert response.status_code == 200
    lines = access_lines()
    assert len(lines) == 1
    line = lines[0]
    assert set(line) == FIELDS
    assert line["request_id"] == response.headers["x-request-id"]
    assert line["method"] == "POST"
    assert line["route"] == "/v1/predict"
    assert line["status"] == 200
    assert isinstance(line["latency_ms"], float)
    assert line["latency_ms"] >= 0
    assert (line["model_name"], line["model_version"]) == ("dummy", "3")


def test_each_request_gets_its_own_id(client, access_lines):
    first = client.get("/health").headers["x-request-id"]
    second = client.get("/health").headers["x-request-id"]
    assert first != second
    assert [line["request_id"] for line in access_lines()] == [first, second]


def test_a_plain_incoming_request_id_is_kept(client, access_lines):
    response = client.get("/health", headers={"X-Request-ID": "gw-42.abc_DEF"})
    assert response.headers["x-request-id"] == "gw-42.abc_DEF"
    assert access_lines()[0]["request_id"] == "gw-42.abc_DEF"


@pytest.mark.parametrize(
    "hostile",
    ['abc"}\n{"status": 200', "a" * 65, "id with spaces", "PatientName^Secret", "../etc"],
)
def test_a_hostile_incoming_request_id_is_replaced(client, access_lines, hostile):
    response = client.get("/health", headers={"X-Request-ID": hostile})
    replaced = response.headers["x-request-id"]
    assert replaced != hostile
    assert len(replaced) == 32
    assert access_lines()[0]["request_id"] == replaced


def test_the_error_body_carries_the_logged_request_id(client, expect_error, access_lines):
    error = expect_error(client.get("/nowhere"), 404, "not_found")
    line = access_lines()[0]
    assert line["request_id"] == error["request_id"]
    assert line["route"] == "unmatched"
    assert line["status"] == 404


def test_the_route_template_is_logged_not_the_url_or_its_query(client, server_log, access_lines):
    response = client.post(
        "/v1/predict?q=Secret&patient=Secret",
        content=b"PatientName^Secret",
        headers={"X-Custom": "Secret"},
    )
    assert response.status_code == 200
    assert access_lines()[0]["route"] == "/v1/predict"
    assert "access" in server_log()
    assert "Secret" not in server_log()


def test_upload_file_names_and_contents_are_not_logged(client, server_log, access_lines):
    files = {"file": ("PatientName^Secret.nii.gz", b"Secret pixels", "application/gzip")}
    response = client.post("/v1/upload", files=files)
    assert response.json() == {"bytes": 13, "model": "dummy"}
    assert access_lines()[0]["route"] == "/v1/upload"
    assert "access" in server_log()
    assert "Secret" not in server_log()


def test_model_fields_are_null_before_the_model_is_loaded(make_client, access_lines):
    client = make_client(load_model=lambda: (_ for _ in ()).throw(OSError("no disk")))
    client.get("/health")
    line = access_lines()[-1]
    assert (line["model_name"], line["model_version"]) == (None, None)


def test_a_rejected_body_is_logged_with_its_route_and_413(make_client, access_lines):
    client = make_client(max_body_mb=0.001)
    response = client.post("/v1/predict", content=b"x" * 2000)
    line = access_lines()[-1]
    assert line["status"] == 413
    assert line["route"] == "/v1/predict"
    assert line["request_id"] == response.headers["x-request-id"]


def test_an_unhandled_error_is_logged_as_500(client, access_lines):
    client.get("/v1/boom")
    assert access_lines()[-1]["status"] == 500
    assert access_lines()[-1]["route"] == "/v1/boom"


def test_accepted_request_id_generates_uuid_hex_when_absent():
    generated = accepted_request_id(None)
    assert len(generated) == 32
    int(generated, 16)
