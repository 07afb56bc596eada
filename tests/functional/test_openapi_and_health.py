"""GET /api/openapi.json and GET /api/health."""

from __future__ import annotations

from typing import Any

import pytest
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from app import app


@pytest.fixture(scope="module")
def document(chalice_client: Any) -> dict[str, Any]:
    r = chalice_client.http.get("/api/openapi.json")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    body: dict[str, Any] = r.json_body
    return body


def test_the_document_is_valid_openapi_3_1(document):
    assert document["openapi"].startswith("3.1")
    validate(document)  # raises on any violation of the 3.1 schema


def test_the_validator_would_notice_a_broken_document(document):
    broken = {**document, "paths": {"/x": {"get": {"responses": {"200": {"description": 5}}}}}}
    with pytest.raises(OpenAPIValidationError):
        validate(broken)


def test_the_document_covers_every_route_of_the_app(document):
    routed = {
        (path, method.lower())
        for path, methods in app.routes.items()
        for method, entry in methods.items()
        # 404/405 for what no operation serves (routes/fallback.py), the docs pages (routes/docs.py)
        if not getattr(entry.view_function, "__not_an_operation__", False)
    }
    routed = {(p, m) for p, m in routed if m != "options"}  # CORS preflight, not an API operation
    documented = {(path, method) for path, ops in document["paths"].items() for method in ops}
    assert routed == documented
    assert len(documented) >= 20


def test_every_operation_says_what_it_takes_and_returns(document):
    schemas = document["components"]["schemas"]
    for path, ops in document["paths"].items():
        for method, op in ops.items():
            assert op["summary"], (method, path)
            assert op["responses"], (method, path)
            for param in op["parameters"]:
                if param["in"] == "path":
                    assert "{" + param["name"] + "}" in path
            for status, response in op["responses"].items():
                if int(status) >= 400:
                    assert response["content"]["application/json"]["schema"] == {
                        "$ref": "#/components/schemas/ErrorBody"
                    }
            body = op.get("requestBody")
            if body and "multipart/form-data" in body["content"]:
                assert body["content"]["multipart/form-data"]["schema"]["required"] == ["file"]
            elif body:
                ref = body["content"]["application/json"]["schema"]["$ref"]
                assert ref.rsplit("/", 1)[1] in schemas


def test_the_document_is_generated_from_the_validating_models(document):
    schemas = document["components"]["schemas"]
    manifest_create = schemas["ManifestCreate"]
    assert manifest_create["additionalProperties"] is False
    assert manifest_create["required"] == ["name"]
    assert manifest_create["properties"]["name"]["maxLength"] == 200
    assert set(schemas["ManifestListItem"]["properties"]) >= {
        "manifest_id",
        "name",
        "asset_count",
        "times_used",
        "last_used_at",
        "version",
    }
    assert {"reverse_prompt", "visual_description", "is_face_crop"} <= set(
        schemas["AssetResponse"]["properties"]
    )
    listing = document["paths"]["/api/manifests"]["get"]
    params = {p["name"]: p for p in listing["parameters"]}
    assert set(params) == {"category", "status", "sort_by", "sort_order", "limit", "cursor"}
    assert params["limit"]["schema"]["maximum"] == 200
    assert set(listing["responses"]["200"]["headers"]) == {"X-Next-Cursor", "Link", "X-Request-Id"}


def test_secured_operations_declare_the_bearer_scheme(document):
    open_paths = {"/api/health", "/api/openapi.json"}
    for path, ops in document["paths"].items():
        for op in ops.values():
            if path in open_paths:
                assert op["security"] == []
            else:
                assert op["security"] == [{"bearerAuth": []}], path
                assert "401" in op["responses"]


def test_the_document_needs_no_token(anonymous):
    assert anonymous.get("/api/openapi.json").status == 200


def test_health_is_ok_without_a_token(anonymous):
    r = anonymous.get("/api/health")
    assert r.status == 200
    assert r.json == {"status": "ok"}


def test_health_takes_no_query_parameters(anonymous):
    r = anonymous.get("/api/health?verbose=1")
    assert r.status == 422
    assert isinstance(r.json["detail"], str)
