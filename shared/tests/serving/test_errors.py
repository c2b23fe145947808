import logging

from fastapi import FastAPI
from fastapi.testclient import TestClient

from medai.serving import ApiError, install_error_handlers
from medai.serving.errors import status_code_name, validation_message


def test_an_unknown_route_is_404_in_the_error_schema(client, expect_error):
    error = expect_error(client.get("/v2/nothing/here"), 404, "not_found")
    assert error["message"] == "Not Found"


def test_a_wrong_method_is_405_with_the_allow_header(client, expect_error):
    response = client.get("/v1/predict")
    expect_error(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "POST"


def test_a_validation_error_names_the_field_but_not_the_value(client, expect_error):
    error = expect_error(
        client.get("/v1/echo", params={"threshold": "PatientSecret"}), 422, "invalid_request"
    )
    assert "query.threshold" in error["message"]
    assert "PatientSecret" not in error["message"]


def test_a_missing_field_is_named(client, expect_error):
    error = expect_error(client.post("/v1/upload"), 422, "invalid_request")
    assert "body.file (missing)" in error["message"]


def test_an_unhandled_exception_is_a_generic_500(client, expect_error, caplog):
    caplog.set_level(logging.INFO)
    error = expect_error(client.get("/v1/boom"), 500, "internal_error")
    assert "Secret" not in error["message"]
    assert "RuntimeError" not in error["message"]
    assert "Secret" not in caplog.text
    logged = [r.getMessage() for r in caplog.records if r.name == "medai.serving.errors"]
    assert logged == [f"unhandled RuntimeError on /v1/boom (request_id={error['request_id']})"]
    assert all(r.exc_info is None for r in caplog.records)


def test_the_server_answers_after_an_unhandled_exception(client):
    client.get("/v1/boom")
    assert client.get("/health").status_code == 200


def bare_app():
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/refuse")
    async def refuse() -> None:
        raise ApiError(422, "unreadable_image", "the upload is not\n a NIfTI file")

    @app.get("/crash")
    async def crash() -> None:
        msg = "PatientName^Secret"
        raise ValueError(msg)

    return app


def test_api_error_renders_status_code_and_one_line_message():
    response = TestClient(bare_app()).get("/refuse")
    assert response.status_code == 422
    assert response.json() == {
        "error": {
            "status": 422,
            "code": "unreadable_image",
            "message": "the upload is not a NIfTI file",
            "request_id": None,
        }
    }


def test_the_fallback_handler_renders_500_without_the_message(caplog):
    client = TestClient(bare_app(), raise_server_exceptions=False)
    with caplog.at_level(logging.ERROR, logger="medai.serving.errors"):
        response = client.get("/crash")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    assert "Secret" not in response.text
    assert [r.getMessage() for r in caplog.records if r.name == "medai.serving.errors"] == [
        "unhandled ValueError on /crash (request_id=None)"
    ]


def test_status_code_names():
    assert status_code_name(404) == "not_found"
    assert status_code_name(405) == "method_not_allowed"
    assert status_code_name(413) == "request_entity_too_large"
    assert status_code_name(599) == "http_error"


def test_validation_message_lists_at_most_five_fields():
    errors = [{"loc": ("body", f"f{i}"), "type": "missing", "input": "Secret"} for i in range(7)]
    message = validation_message(errors)
    assert message.startswith("invalid request: body.f0 (missing); body.f1 (missing)")
    assert message.endswith("; and 2 more")
    assert "Secret" not in message
