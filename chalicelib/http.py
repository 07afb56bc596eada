"""The HTTP edge: body/query parsing into pydantic models, the one mapping from
domain errors to HTTP, and response shaping.

Handlers are registered through `api_route`, which records the request and
response models next to the view (the OpenAPI document is generated from those
records) and wraps the view so any domain error becomes a `{"detail": ...}`
answer. Chalice would otherwise turn an unexpected exception into a 500 before
any middleware could see it.
"""

from __future__ import annotations

import functools
import io
import json
import logging
import re
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from chalice import Blueprint, Response  # type: ignore[attr-defined]
from pydantic import BaseModel, ValidationError

from chalicelib import auth, config, observability
from chalicelib.errors import (
    BadRequestError,
    ConflictError,
    DomainError,
    LimitExceededError,
    NotFoundError,
    PayloadTooLargeError,
    PreconditionFailedError,
    ServiceUnavailableError,
    UnauthorizedError,
    UnsupportedMediaTypeError,
    ValidationFailedError,
)

log = logging.getLogger(__name__)

# The one mapping from domain errors to HTTP status codes; first match wins.
STATUS_FOR_ERROR: tuple[tuple[type[DomainError], int], ...] = (
    (BadRequestError, 400),
    (UnauthorizedError, 401),
    (NotFoundError, 404),
    (ConflictError, 409),
    (LimitExceededError, 409),
    (PreconditionFailedError, 412),
    (PayloadTooLargeError, 413),
    (UnsupportedMediaTypeError, 415),
    (ValidationFailedError, 422),
    (ServiceUnavailableError, 503),
)


def status_for(error: DomainError) -> int:
    for cls, status in STATUS_FOR_ERROR:
        if isinstance(error, cls):
            return status
    return 400


class Page(NamedTuple):
    """A list answer plus the cursor for the next page, if more remain."""

    items: list[Any]
    next_cursor: str | None = None


class Endpoint(NamedTuple):
    """What the OpenAPI generator needs to know about one route."""

    path: str
    method: str
    summary: str
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: Any = None
    status: int = 200
    auth: bool = True
    paginated: bool = False
    form_file: bool = False
    if_match: bool = False
    idempotent: bool = False
    errors: tuple[int, ...] = ()


ENDPOINTS: list[Endpoint] = []


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        body=json.dumps(body, separators=(",", ":")),
        status_code=status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def error_response(error: DomainError) -> Response:
    body: dict[str, Any] = {"detail": error.detail}
    if isinstance(error, ValidationFailedError):
        body["errors"] = error.errors
    extra = dict(error.extra)
    headers: dict[str, str] = {}
    if isinstance(extra.get("revision"), int):
        headers["ETag"] = etag(extra.pop("revision"))
        body["etag"] = headers["ETag"]
    body.update(extra)
    if isinstance(error, UnauthorizedError):
        headers["WWW-Authenticate"] = 'Bearer realm="vidpipe"'
    if isinstance(error, ServiceUnavailableError):
        headers["Retry-After"] = str(error.retry_after or config.retry_after_seconds())
    return json_response(body, status_for(error), headers)


def _field_errors(exc: ValidationError, prefix: str) -> list[dict[str, Any]]:
    return [
        {"loc": [prefix, *err["loc"]], "msg": err["msg"], "type": err["type"]}
        for err in exc.errors(include_url=False, include_input=False, include_context=False)
    ]


def parse_body(request: Any, model: type[BaseModel]) -> BaseModel:
    content_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    raw = request.raw_body or b""
    if len(raw) > config.max_body_bytes():
        raise PayloadTooLargeError(f"Body larger than {config.max_body_bytes()} bytes")
    if content_type != "application/json" and not (content_type == "" and not raw):
        raise UnsupportedMediaTypeError("Content-Type must be application/json")
    try:
        data = json.loads(raw) if raw else None
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequestError("Malformed JSON body") from exc
    except RecursionError as exc:  # e.g. 5000 nested '[': well-formed but beyond the parser
        raise BadRequestError("JSON body nested too deeply") from exc
    if not isinstance(data, dict):
        raise ValidationFailedError(
            "Request body must be a JSON object",
            [{"loc": ["body"], "msg": "Input should be an object", "type": "dict_type"}],
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailedError("Invalid request body", _field_errors(exc, "body")) from exc


def parse_form_file(request: Any, field_name: str = "file") -> Any:
    """The one file field of a multipart/form-data body."""
    import multipart

    from chalicelib.uploaded import UploadedFile

    header = request.headers.get("content-type") or ""
    media_type, options = multipart.parse_options_header(header)
    if media_type != "multipart/form-data" or not options.get("boundary"):
        raise UnsupportedMediaTypeError("Content-Type must be multipart/form-data")
    raw = request.raw_body or b""
    limit = config.max_direct_upload_bytes()
    if len(raw) > limit + 64 * 1024:
        raise PayloadTooLargeError(
            f"Files over {limit} bytes cannot be sent through the API; "
            "use POST /api/assets/{asset_id}/upload-url and PUT the file to S3"
        )
    try:
        parser = multipart.MultipartParser(
            io.BytesIO(raw), options["boundary"], len(raw), memory_limit=limit + 64 * 1024
        )
        for part in parser:
            if part.name == field_name:
                return UploadedFile(part.filename or None, part.content_type or None, part.raw)
    except multipart.MultipartError as exc:
        raise BadRequestError("Malformed multipart body") from exc
    raise ValidationFailedError(
        "Missing file field",
        [{"loc": ["body", field_name], "msg": "Field required", "type": "missing"}],
    )


def parse_query(request: Any, model: type[BaseModel]) -> BaseModel:
    params: dict[str, Any] = {}
    multi = request.query_params or {}
    for key in multi:
        values = multi.getlist(key) if hasattr(multi, "getlist") else [multi[key]]
        if len(values) > 1:
            raise ValidationFailedError(
                "Invalid query parameters",
                [{"loc": ["query", key], "msg": "Given more than once", "type": "duplicate"}],
            )
        params[key] = values[0]
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        raise ValidationFailedError("Invalid query parameters", _field_errors(exc, "query")) from exc


_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _check_ids(path_params: Mapping[str, str]) -> dict[str, str]:
    """Ids are UUIDs; anything else cannot name a resource, so it is a 404."""
    checked = {}
    for name, value in path_params.items():
        lowered = value.lower()
        if not _UUID.match(lowered):
            raise NotFoundError("Not found")
        checked[name] = lowered  # the canonical form, as ids are stored
    return checked


def _render(result: Any) -> Any:
    if isinstance(result, BaseModel):
        return result.model_dump(mode="json")
    if isinstance(result, list):
        return [_render(item) for item in result]
    return result


def _rendered(request: Any, result: Any, status: int) -> dict[str, Any]:
    """The answer as plain data (what an idempotency record stores and replays)."""
    headers: dict[str, str] = {}
    if isinstance(result, Page):
        if result.next_cursor:
            headers["X-Next-Cursor"] = result.next_cursor
            headers["Link"] = _next_link(request, result.next_cursor)
        result = result.items
    revision = getattr(result, "revision", None)
    if isinstance(result, BaseModel) and isinstance(revision, int):
        headers["ETag"] = etag(revision)
    return {"status": status, "body": _render(result), "headers": headers}


def _fingerprint(request: Any) -> bytes:
    query = sorted((request.query_params or {}).items())
    raw = request.raw_body or b""
    return json.dumps(query).encode() + b"\n" + (raw if isinstance(raw, bytes) else raw.encode())


def etag(revision: int) -> str:
    """Strong ETag from the item's revision (bumped by every write to it)."""
    return f'"{revision}"'


def parse_if_match(header: str | None) -> int | None:
    """If-Match -> the revision a write must find, or None (no header, or `*`)."""
    if header is None or header.strip() == "*":
        return None
    values = [v.strip() for v in header.split(",") if v.strip()]
    if len(values) != 1:
        raise BadRequestError("If-Match takes exactly one ETag")
    value = values[0]
    if value.startswith("W/"):
        raise PreconditionFailedError("If-Match needs a strong ETag")
    if not (len(value) >= 3 and value[0] == value[-1] == '"' and value[1:-1].isdigit()):
        raise PreconditionFailedError("If-Match does not name a current ETag")
    return int(value[1:-1])


def _next_link(request: Any, cursor: str) -> str:
    params = {k: v for k, v in (request.query_params or {}).items() if k != "cursor"}
    params["cursor"] = cursor
    from urllib.parse import urlencode

    return f'<?{urlencode(params)}>; rel="next"'


def api_route(
    bp: Blueprint,
    path: str,
    method: str,
    *,
    summary: str,
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    response: Any = None,
    status: int = 200,
    auth_required: bool = True,
    errors: tuple[int, ...] = (),
    form_file: bool = False,
    if_match: bool = False,
    idempotent: bool = False,
    prefix: str = "/api",
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a view on `bp`: authenticate, parse, call, render, map errors.

    `if_match`: the view takes `expected_revision` from an If-Match header.
    `idempotent`: an Idempotency-Key header makes retries return the first answer.
    """

    def decorator(fn: Callable[..., Any]) -> Callable[..., Any]:
        endpoint = Endpoint(
            path=prefix + path,
            method=method,
            summary=summary,
            body=body,
            query=query,
            response=response,
            status=status,
            auth=auth_required,
            paginated=query is not None and "cursor" in query.model_fields,
            errors=errors,
            form_file=form_file,
            if_match=if_match,
            idempotent=idempotent,
        )
        ENDPOINTS.append(endpoint)

        @functools.wraps(fn)
        def view(**path_params: str) -> Response:
            request = bp.current_request
            try:
                kwargs: dict[str, Any] = _check_ids(path_params)
                if auth_required:
                    kwargs["owner"] = auth.owner_from_headers(request.headers)
                    observability.set_owner(kwargs["owner"])
                if body is not None:
                    kwargs["body"] = parse_body(request, body)
                if form_file:
                    kwargs["upload"] = parse_form_file(request)
                if if_match:
                    kwargs["expected_revision"] = parse_if_match(request.headers.get("if-match"))
                if query is not None:
                    kwargs["query"] = parse_query(request, query)
                elif request.query_params:
                    raise ValidationFailedError(
                        "This route takes no query parameters",
                        [
                            {"loc": ["query", k], "msg": "Unknown parameter", "type": "extra_forbidden"}
                            for k in request.query_params
                        ],
                    )

                def produce() -> dict[str, Any]:
                    return _rendered(request, fn(**kwargs), status)

                key = request.headers.get("idempotency-key") if idempotent else None
                if key is not None:
                    from chalicelib import idempotency

                    canonical = {name: kwargs[name] for name in path_params}  # lower-cased ids
                    answer = idempotency.run_once(
                        idempotency.check_key(key),
                        scope=f"{kwargs.get('owner')}\n{method} {prefix}{path.format(**canonical)}",
                        fingerprint=_fingerprint(request),
                        produce=produce,
                        lambda_context=getattr(bp, "lambda_context", None),
                    )
                else:
                    answer = produce()
            except DomainError as error:
                if isinstance(error, (ConflictError, PreconditionFailedError)):
                    observability.count("Conflicts")
                if isinstance(error, ServiceUnavailableError):
                    observability.count("DependencyFailures")
                    log.warning("%s %s: 503 (%r)", method, path, error.__cause__)
                return error_response(error)
            except Exception:
                # Last resort: a bug, not the client's fault. Logged with its
                # traceback; the client gets a generic detail, never internals.
                log.exception("%s %s: unhandled error", method, path)
                return json_response({"detail": "Internal server error"}, 500)
            return json_response(answer["body"], answer["status"], answer["headers"])

        view.__endpoint__ = endpoint  # type: ignore[attr-defined]
        bp.route(path, methods=[method], content_types=["*/*"])(view)
        _register_preflight(bp, path, prefix + path)
        return view

    return decorator


_PREFLIGHT_REGISTERED: set[tuple[int, str]] = set()
CORS_ALLOW_HEADERS = "Authorization, Content-Type, If-Match, Idempotency-Key"


def _register_preflight(bp: Blueprint, path: str, full_path: str) -> None:
    """Answer CORS preflights ourselves (one OPTIONS view per path), so the
    allowed origin can be chosen per request from the stage's allow-list."""
    if (id(bp), path) in _PREFLIGHT_REGISTERED:
        return
    _PREFLIGHT_REGISTERED.add((id(bp), path))

    def preflight(**_path_params: str) -> Response:
        methods = sorted({ep.method for ep in ENDPOINTS if ep.path == full_path} | {"OPTIONS"})
        headers: dict[str, str | list[str]] = {
            "Access-Control-Allow-Methods": ", ".join(methods),
            "Access-Control-Allow-Headers": CORS_ALLOW_HEADERS,
            "Access-Control-Max-Age": "600",
        }
        return Response(body="", status_code=204, headers=headers)

    preflight.__name__ = f"preflight_{re.sub(r'[^a-zA-Z0-9]+', '_', path).strip('_')}"
    bp.route(path, methods=["OPTIONS"], content_types=["*/*"])(preflight)


# --- middleware helpers ----------------------------------------------------------


def normalize_error_body(response: Response) -> Response:
    """Chalice answers some requests itself (405, 415, 500) as {Code, Message};
    give those the same `{"detail": ...}` shape as ours, and never a traceback."""
    if response.status_code < 400 or not isinstance(response.body, dict):
        return response
    if "Code" in response.body and "detail" not in response.body:
        if response.status_code >= 500:
            detail = "Internal server error"
        else:
            detail = str(response.body.get("Message") or response.body["Code"])
        response.body = {"detail": detail}
        response.headers["Content-Type"] = "application/json"  # Chalice sets none on these
    return response


def add_standard_headers(request: Any, response: Response) -> Response:
    """Security headers on every answer, and CORS for allow-listed origins only."""
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Cache-Control", "no-store")
    origin = request.headers.get("origin") if request is not None else None
    if origin and origin in config.cors_origins():
        headers["Access-Control-Allow-Origin"] = origin
        headers["Access-Control-Expose-Headers"] = "X-Next-Cursor, Link, ETag"
        headers["Vary"] = "Origin"
    return response
