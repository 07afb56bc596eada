"""OpenAPI 3.1 document built from the same pydantic models the handlers use."""

from __future__ import annotations

import functools
import re
from typing import Any, get_args, get_origin

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from chalicelib import config
from chalicelib.http import ENDPOINTS, NUMERIC_PATH_PARAMS, Endpoint
from chalicelib.idempotency import MAX_KEY_LENGTH
from chalicelib.schemas import ErrorBody, ManifestDetail

REF = "#/components/schemas/{model}"
ERROR_TEXT = {
    400: "Malformed request (bad JSON, cursor, multipart body or If-Match)",
    401: "Missing or invalid bearer token",
    404: "Unknown id, or another owner's",
    409: "Conflicts with the current state, or a concurrent change (retry)",
    412: "If-Match precondition failed",
    413: "Body too large",
    406: "The answer would not fit Lambda's 6 MB response limit (send Accept-Encoding: gzip)",
    415: "Unsupported media type",
    422: "Invalid values (body, query parameters, or an unknown query parameter)",
    503: "A dependency is unreachable",
}


DESCRIPTION = """Production manifests for the VidPipe pipeline: manifests, their assets and
images, and the projects that pin a manifest version.

- Authentication: `Authorization: Bearer <JWT>` on every route but health, docs and this document.
- Errors: `{"detail": "<field>: <reason>; ...", "errors": [{"loc", "msg", "type"}]}`; a failing
  dependency is 503 with Retry-After; every answer carries `X-Request-Id` (yours, if it is at most
  128 characters of `[A-Za-z0-9._-]`, else a generated one), also in 5xx bodies as `request_id`.
- Lists: `GET /api/manifests` without `limit` answers the whole library up to 1000 manifests;
  further pages (and pages of `limit`) continue with `X-Next-Cursor` / `Link: rel="next"`.
- Writes: `If-Match` with the ETag of a read; creating POSTs take `Idempotency-Key`.
- Large answers are gzip-compressed when the request sends `Accept-Encoding: gzip`.
- Human-readable docs: `GET /api/docs`.
"""
TAGS = {
    "manifests": "Manifests: create, list (whole library or pages), detail, edit, duplicate, delete",
    "assets": "Assets of a manifest, and the stable image address",
    "uploads": "Attaching images: presigned PUT + upload-complete, or a small multipart upload",
    "versions": "Frozen manifest versions: freeze, history, a version as frozen, diff, restore, "
    "and the version a project pins",
    "projects": "Projects that pin a manifest version (a pinned manifest cannot be deleted)",
    "system": "Health and this document",
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


REQUEST_ID_HEADER = {
    "schema": {"type": "string", "maxLength": 128},
    "required": True,
    "description": "The request's X-Request-Id if it sent a sane one, else a generated one",
}
ETAG_HEADER = {"schema": {"type": "string"}, "description": "Strong ETag of the current revision"}
IF_MATCH = {
    "name": "If-Match",
    "in": "header",
    "required": False,
    "description": "Write only if this is still the current ETag (else 412); `*` or absent: no check",
    "schema": {"type": "string", "maxLength": 100},
}
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "A retry with the same key and request replays the first answer (24 h); "
    "the same key with another request is 422, while the first is running 409",
    # printable ASCII with at least one non-space (surrounding spaces are trimmed)
    "schema": {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_KEY_LENGTH,
        "pattern": "^[ -~]*[!-~][ -~]*$",
    },
}


def _path_params(ep: Endpoint) -> list[str]:
    return re.findall(r"{(\w+)}", ep.path)


def _path_schema(name: str) -> dict[str, Any]:
    if name in NUMERIC_PATH_PARAMS:
        return {"type": "string", "pattern": "^[1-9][0-9]{0,8}$", "maxLength": 9}
    return {"type": "string", "format": "uuid", "maxLength": 36}


def _parameters(ep: Endpoint) -> list[dict[str, Any]]:
    params = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": _path_schema(name),
        }
        for name in _path_params(ep)
    ]
    if ep.query is not None:
        schema = ep.query.model_json_schema(ref_template=REF)
        required = set(schema.get("required", []))
        for name, prop in schema.get("properties", {}).items():
            prop = _without_null(prop)
            param = {"name": name, "in": "query", "required": name in required, "schema": prop}
            if "description" in prop:
                param["description"] = prop["description"]
            params.append(param)
    if ep.if_match:
        params.append(IF_MATCH)
    if ep.idempotent:
        params.append(IDEMPOTENCY_KEY)
    return params


def _without_null(prop: dict[str, Any]) -> dict[str, Any]:
    """An optional query parameter is absent, never null: `X | None` -> X."""
    members = prop.get("anyOf")
    if not members:
        return prop
    rest = [m for m in members if m != {"type": "null"}]
    if len(rest) != 1 or len(rest) == len(members):
        return prop
    merged = {k: v for k, v in prop.items() if k != "anyOf" and not (k == "default" and v is None)}
    return {**rest[0], **merged}


def _has_revision(model: type[BaseModel] | None) -> bool:
    return model is not None and "revision" in model.model_fields


def _operation(ep: Endpoint) -> dict[str, Any]:
    model, is_list = _response_model(ep.response)
    schema: dict[str, Any] = {"$ref": REF.format(model=model.__name__)} if model else {}
    if is_list:
        schema = {"type": "array", "items": schema}
    headers: dict[str, Any] = {}
    if not is_list and _has_revision(model):
        headers["ETag"] = {**ETAG_HEADER, "required": True}
    if 300 <= ep.status < 400:
        headers["Location"] = {"schema": {"type": "string"}, "required": True, "description": "Signed URL"}
    if ep.paginated:
        headers = {
            "X-Next-Cursor": {"schema": {"type": "string"}, "description": "Cursor of the next page"},
            "Link": {"schema": {"type": "string"}, "description": 'RFC 8288 rel="next" link'},
        }
    responses: dict[str, Any] = {
        str(status): {
            "description": "Redirect" if 300 <= status < 400 else "Success",
            "headers": headers,
            "content": {"application/json": {"schema": schema}},
        }
        for status in (ep.status, *ep.also_ok)
    }
    # Every status the wrapper in chalicelib.http can answer, not only the view's own.
    codes = set(ep.errors) | {422}  # 422: every route refuses query parameters it does not know
    if ep.auth:
        codes.update({401, 503})  # 503: DynamoDB/S3 unreachable or throttling beyond retries
    if _path_params(ep):
        codes.add(404)  # an id that is not a UUID names nothing
    if ep.body is not None or ep.form_file:
        codes.update({400, 413, 415, 422})
    if ep.if_match:
        codes.update({400, 412})  # 400: more than one ETag in If-Match
    if ep.idempotent:
        codes.update({409, 422, 503})  # key in use / reused with another request / store down
    if ep.method == "GET" and (is_list or model is ManifestDetail):
        codes.add(406)  # up to 500 assets or LIBRARY_CAP manifests: http.fit_response
    for code in sorted(codes):
        responses[str(code)] = {
            "description": ERROR_TEXT[code],
            "content": {"application/json": {"schema": {"$ref": REF.format(model="ErrorBody")}}},
        }
    if ep.if_match:
        responses["412"]["headers"] = {"ETag": ETAG_HEADER}
    if "503" in responses:
        responses["503"]["headers"] = {
            "Retry-After": {
                "description": "Seconds to wait before retrying",
                "schema": {"type": "integer", "minimum": 0},
            }
        }
    for response in responses.values():
        response["headers"] = {**response.get("headers", {}), "X-Request-Id": REQUEST_ID_HEADER}
    op: dict[str, Any] = {
        "operationId": f"{ep.method.lower()}_{re.sub(r'[^a-z0-9]+', '_', ep.path.lower()).strip('_')}",
        "tags": [ep.tag] if ep.tag else [],
        "summary": ep.summary,
        "parameters": _parameters(ep),
        "responses": responses,
    }
    if ep.body is not None:
        limit = config.max_body_bytes()
        op["requestBody"] = {
            "required": True,
            "description": f"A JSON object of at most {limit} bytes (larger: 413)",
            "x-max-body-bytes": limit,
            "content": {"application/json": {"schema": {"$ref": REF.format(model=ep.body.__name__)}}},
        }
    if ep.form_file:
        op["requestBody"] = _form_file_body()
    if ep.auth:
        op["security"] = [{"bearerAuth": []}]
    else:
        op["security"] = []
    return op


def _form_file_body() -> dict[str, Any]:
    """multipart/form-data with one `file` field (the bytes of a PNG, JPEG or WebP).
    Other parts are ignored; the whole body is bounded (http.parse_form_file)."""
    limit = config.max_direct_upload_bytes() + 64 * 1024
    return {
        "required": True,
        "description": f"At most {limit} bytes in all (larger: 413; use the upload-url flow)",
        "x-max-body-bytes": limit,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "maxLength": config.max_direct_upload_bytes(),
                            "description": "PNG, JPEG or WebP; larger files: use the upload-url flow",
                        }
                    },
                },
                "encoding": {"file": {"contentType": "image/png, image/jpeg, image/webp"}},
            }
        },
    }


@functools.cache
def document() -> dict[str, Any]:
    _, definitions = models_json_schema(_models(), ref_template=REF)
    paths: dict[str, dict[str, Any]] = {}
    for ep in ENDPOINTS:
        paths.setdefault(ep.path, {})[ep.method.lower()] = _operation(ep)
    used = {ep.tag for ep in ENDPOINTS}
    return {
        "openapi": "3.1.0",
        "info": {"title": "vidpipe-manifests", "version": "1.0.0", "description": DESCRIPTION},
        # Relative to this document (/api/openapi.json locally, /<stage>/api/openapi.json
        # on AWS), so "Try it out" calls the deployment that served it.
        "servers": [{"url": "..", "description": "The deployment that served this document"}],
        "tags": [{"name": name, "description": text} for name, text in TAGS.items() if name in used],
        "paths": paths,
        "components": {
            "schemas": definitions.get("$defs", {}),
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }
