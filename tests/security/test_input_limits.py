"""Every input the API reads has a documented bound, and the bound is enforced.

A walk over the request side of the OpenAPI document (parameters and request
bodies) fails on any string without maxLength, array without maxItems, number
without minimum and maximum, or object open to unknown properties; then each
bound of each JSON body and query parameter is crossed by one step and must be
answered 422 naming that field, and a body one byte over the documented size 413.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.conftest import Api
from tests.security.test_tenant_isolation import JSON_BODIES, operations

STRING_BOUNDED_BY = ("maxLength", "enum", "const")


@pytest.fixture(scope="module")
def document(chalice_client: Any) -> dict[str, Any]:
    r = Api(chalice_client, None).get("/api/openapi.json")
    assert r.status == 200
    doc: dict[str, Any] = r.json
    return doc


def resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        schema = doc["components"]["schemas"][name]
    return schema


def unbounded(
    doc: dict[str, Any], schema: dict[str, Any], where: str, open_ok: bool = False
) -> Iterator[str]:
    """Where `schema` admits values of any size. `open_ok`: unknown properties are
    allowed because the whole body has a documented byte limit (multipart parts)."""
    schema = resolve(doc, schema)
    branches = schema.get("anyOf") or schema.get("oneOf") or schema.get("allOf")
    if branches:
        for branch in branches:
            yield from unbounded(doc, branch, where, open_ok)
        return
    if "enum" in schema or "const" in schema:
        return
    kind = schema.get("type")
    if kind == "string":
        if not any(k in schema for k in STRING_BOUNDED_BY):
            yield f"{where}: string without maxLength"
    elif kind == "array":
        if "maxItems" not in schema:
            yield f"{where}: array without maxItems"
        yield from unbounded(doc, schema.get("items", {}), f"{where}[]")
    elif kind in ("integer", "number"):
        if not {"maximum", "exclusiveMaximum"} & set(schema):
            yield f"{where}: {kind} without maximum"
        if not {"minimum", "exclusiveMinimum"} & set(schema):
            yield f"{where}: {kind} without minimum"
    elif kind == "object":
        if schema.get("additionalProperties", True) is not False and not open_ok:
            yield f"{where}: object open to unknown properties"
        for name, prop in schema.get("properties", {}).items():
            yield from unbounded(doc, prop, f"{where}.{name}")
    elif kind not in ("boolean", "null"):
        yield f"{where}: no type, so no bound"


def request_inputs(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], bool]]:
    """(where, schema, open_ok) for every parameter and request body."""
    for path, method, op in operations(doc):
        for param in op.get("parameters", []):
            yield f"{method} {path} {param['in']} {param['name']}", param["schema"], False
        body = op.get("requestBody") or {}
        for media_type, content in body.get("content", {}).items():
            if "x-max-body-bytes" not in body:
                yield f"{method} {path} body: no x-max-body-bytes", {}, False
            open_ok = media_type == "multipart/form-data"
            yield f"{method} {path} body ({media_type})", content["schema"], open_ok


def test_every_documented_input_has_a_bound(document: dict[str, Any]) -> None:
    inputs = list(request_inputs(document))
    assert len(inputs) >= 40
    problems = [p for where, schema, open_ok in inputs for p in unbounded(document, schema, where, open_ok)]
    assert not problems, "\n".join(problems)


def test_the_walk_notices_an_unbounded_field(document: dict[str, Any]) -> None:
    loose = {"type": "object", "additionalProperties": False, "properties": {"note": {"type": "string"}}}
    assert list(unbounded(document, loose, "x")) == ["x.note: string without maxLength"]
    assert list(unbounded(document, {"type": "array", "items": {"type": "integer"}}, "y")) == [
        "y: array without maxItems",
        "y[]: integer without maximum",
        "y[]: integer without minimum",
    ]


def oversized(media_type: str, limit: int) -> tuple[bytes, dict[str, str]]:
    """A well-formed body of `limit + 1` bytes."""
    if media_type == "application/json":
        body = b'{"name": "' + b"x" * (limit - 11) + b'"}'
        return body + b" " * (limit + 1 - len(body)), {"Content-Type": media_type}
    head = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n\r\n'
    tail = b"\r\n--b--\r\n"
    body = head + b"\x00" * (limit + 1 - len(head) - len(tail)) + tail
    return body, {"Content-Type": "multipart/form-data; boundary=b"}


def test_every_request_body_declares_its_size_limit_and_one_byte_more_is_413(
    document: dict[str, Any], alice: Api
) -> None:
    checked = 0
    for path, method, op in operations(document):
        body = op.get("requestBody") or {}
        for media_type in body.get("content", {}):
            limit = body["x-max-body-bytes"]
            assert str(limit) in body["description"]
            raw, headers = oversized(media_type, limit)
            assert len(raw) == limit + 1
            r = alice.call(method, re.sub(r"{\w+}", str(uuid.uuid4()), path), raw=raw, headers=headers)
            assert r.status == 413, (method, path, r)
            checked += 1
    assert checked >= 9


# --- each bound, crossed by one -------------------------------------------------------


def crossings(doc: dict[str, Any], schema: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """(what, value) pairs just outside the bounds of `schema` (null branches skipped)."""
    schema = resolve(doc, schema)
    for branch in schema.get("anyOf", []):
        if branch.get("type") != "null":
            yield from crossings(doc, branch)
    kind = schema.get("type")
    if kind == "string" and "maxLength" in schema:
        yield f"maxLength {schema['maxLength']}", "x" * (schema["maxLength"] + 1)
    if kind == "string" and schema.get("minLength", 0) > 0:
        yield f"minLength {schema['minLength']}", ""
    if kind == "array" and "maxItems" in schema:
        yield f"maxItems {schema['maxItems']}", ["t"] * (schema["maxItems"] + 1)
    if kind == "integer":
        if "maximum" in schema:
            yield f"maximum {schema['maximum']}", schema["maximum"] + 1
        if "minimum" in schema:
            yield f"minimum {schema['minimum']}", schema["minimum"] - 1
        if "exclusiveMinimum" in schema:
            yield f"exclusiveMinimum {schema['exclusiveMinimum']}", schema["exclusiveMinimum"]


def body_crossings(document: dict[str, Any]) -> Iterator[tuple[str, str, str, str, Any, dict[str, Any]]]:
    ids = SimpleNamespace(manifest_id=str(uuid.uuid4()), pending_upload_id=str(uuid.uuid4()))
    for path, method, op in operations(document):
        content = (op.get("requestBody") or {}).get("content", {})
        if "application/json" not in content:
            continue
        name = content["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
        valid = JSON_BODIES[name].build(ids)  # type: ignore[arg-type]
        for field, prop in resolve(document, content["application/json"]["schema"])["properties"].items():
            for what, value in crossings(document, prop):
                yield method, path, field, what, value, valid


def test_every_body_field_bound_is_enforced_with_422_naming_the_field(
    document: dict[str, Any], alice: Api
) -> None:
    checked = 0
    for method, path, field, what, value, valid in body_crossings(document):
        target = re.sub(r"{\w+}", str(uuid.uuid4()), path)
        r = alice.call(method, target, raw=json.dumps({**valid, field: value}).encode())
        label = f"{method} {path} {field} past {what}"
        assert r.status == 422, (label, r)
        assert ["body", field] == r.json["errors"][0]["loc"][:2], (label, r.json)
        checked += 1
    assert checked >= 30


def test_every_query_parameter_bound_is_enforced_with_422(document: dict[str, Any], alice: Api) -> None:
    checked = 0
    for path, method, op in operations(document):
        for param in op.get("parameters", []):
            if param["in"] != "query":
                continue
            for what, value in crossings(document, param["schema"]):
                target = re.sub(r"{\w+}", str(uuid.uuid4()), path)
                r = alice.call(method, f"{target}?{urlencode({param['name']: value})}")
                assert r.status == 422, (method, path, param["name"], what, r)
                # Other required parameters may be reported missing too (diff's from/to).
                assert ["query", param["name"]] in [e["loc"] for e in r.json["errors"]], r
                checked += 1
    assert checked >= 8
