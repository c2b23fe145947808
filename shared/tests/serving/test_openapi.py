import json

import pytest


@pytest.fixture
def schema(keyed_client, api_key):
    response = keyed_client.get("/openapi.json", headers={"X-API-Key": api_key})
    assert response.status_code == 200
    return response.json()


def test_both_security_schemes_are_documented(schema):
    schemes = schema["components"]["securitySchemes"]
    assert schemes["ApiKeyHeader"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": schemes["ApiKeyHeader"]["description"],
    }
    assert schemes["BearerKey"]["scheme"] == "bearer"


def test_protected_operations_require_a_key_and_document_401(schema):
    for path, method in [("/v1/predict", "post"), ("/v1/model", "get"), ("/metrics", "get")]:
        operation = schema["paths"][path][method]
        assert {"ApiKeyHeader": []} in operation["security"]
        assert operation["responses"]["401"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ErrorResponse"
        }


def test_probes_are_open_in_the_schema(schema):
    assert "security" not in schema["paths"]["/health"]["get"]
    assert "security" not in schema["paths"]["/ready"]["get"]
    assert "503" in schema["paths"]["/ready"]["get"]["responses"]


def test_predict_routes_document_413_and_503(schema):
    responses = schema["paths"]["/v1/predict"]["post"]["responses"]
    assert {"413", "503", "500"} <= set(responses)


def test_validation_errors_are_documented_with_the_real_schema(schema):
    responses = schema["paths"]["/v1/echo"]["get"]["responses"]
    assert responses["422"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorResponse"
    }
    assert "HTTPValidationError" not in json.dumps(schema)


def test_docs_routes_are_not_in_the_schema(schema):
    assert "/docs" not in schema["paths"]
    assert "/openapi.json" not in schema["paths"]


def test_docs_page_points_at_the_protected_openapi_document(keyed_client, api_key):
    response = keyed_client.get("/docs", headers={"X-API-Key": api_key})
    assert response.status_code == 200
    assert "/openapi.json" in response.text
    assert keyed_client.get("/redoc", headers={"X-API-Key": api_key}).status_code == 404


def test_metrics_are_documented_as_text(schema):
    content = schema["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert "text/plain" in content
