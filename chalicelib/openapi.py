"""OpenAPI 3.1 document built from the same pydantic models the handlers use."""

from __future__ import annotations

import functools
import re
from typing import Any, get_args, get_origin

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from chalicelib.http import ENDPOINTS, Endpoint
from chalicelib.schemas import ErrorBody

REF = "#/components/schemas/{model}"
ERROR_TEXT = {
    400: "Malformed request (bad JSON or cursor)",
    401: "Missing or invalid bearer token",
    404: "Unknown id, or another owner's",
    409: "Conflicts with the current state",
    412: "If-Match precondition failed",
    413: "Body too large",
    415: "Unsupported media type",
    422: "Invalid values",
    503: "A dependency is unreachable",
}


def _response_model(response: Any) -> tuple[type[BaseModel] | None, bool]:
    if get_origin(response) is list:
        return get_args(response)[0], True
    return response, False


def _models() -> list[tuple[type[BaseModel], Any]]:
    """Request bodies in validation mode, responses in serialization mode."""
    seen: dict[str, tuple[type[BaseModel], Any]] = {"ErrorBody": (ErrorBody, "serialization")}
    for ep in ENDPOINTS:
        model, _ = _response_model(ep.response)
        if ep.body is not None:
            seen[ep.body.__name__] = (ep.body, "validation")
        if model is not None:
            seen[model.__name__] = (model, "serialization")
    return list(seen.values())


def _parameters(ep: Endpoint) -> list[dict[str, Any]]:
    params = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}
        for name in re.findall(r"{(\w+)}", ep.path)
    ]
    if ep.query is not None:
        schema = ep.query.model_json_schema(ref_template=REF)
        required = set(schema.get("required", []))
        for name, prop in schema.get("properties", {}).items():
            params.append({"name": name, "in": "query", "required": name in required, "schema": prop})
    return params


def _operation(ep: Endpoint) -> dict[str, Any]:
    model, is_list = _response_model(ep.response)
    schema: dict[str, Any] = {"$ref": REF.format(model=model.__name__)} if model else {}
    if is_list:
        schema = {"type": "array", "items": schema}
    headers = {}
    if ep.paginated:
        headers = {
            "X-Next-Cursor": {"schema": {"type": "string"}, "description": "Cursor of the next page"},
            "Link": {"schema": {"type": "string"}, "description": 'RFC 8288 rel="next" link'},
        }
    responses: dict[str, Any] = {
        str(ep.status): {
            "description": "Success",
            "headers": headers,
            "content": {"application/json": {"schema": schema}},
        }
    }
    codes = set(ep.errors)
    if ep.auth:
        codes.add(401)
    if ep.body is not None:
        codes.update({400, 413, 415, 422})
    if ep.query is not None or ep.body is not None:
        codes.add(422)
    for code in sorted(codes):
        responses[str(code)] = {
            "description": ERROR_TEXT[code],
            "content": {"application/json": {"schema": {"$ref": REF.format(model="ErrorBody")}}},
        }
    op: dict[str, Any] = {
        "operationId": f"{ep.method.lower()}_{re.sub(r'[^a-z0-9]+', '_', ep.path.lower()).strip('_')}",
        "summary": ep.summary,
        "parameters": _parameters(ep),
        "responses": responses,
    }
    if ep.body is not None:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": REF.format(model=ep.body.__name__)}}},
        }
    if ep.auth:
        op["security"] = [{"bearerAuth": []}]
    else:
        op["security"] = []
    return op


@functools.cache
def document() -> dict[str, Any]:
    _, definitions = models_json_schema(_models(), ref_template=REF)
    paths: dict[str, dict[str, Any]] = {}
    for ep in ENDPOINTS:
        paths.setdefault(ep.path, {})[ep.method.lower()] = _operation(ep)
    return {
        "openapi": "3.1.0",
        "info": {"title": "vidpipe-manifests", "version": "1.0.0"},
        "paths": paths,
        "components": {
            "schemas": definitions.get("$defs", {}),
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }
