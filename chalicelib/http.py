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


class WithStatus(NamedTuple):
    """A view's answer with a status other than the route's usual one (one of
    the route's `also_ok`), e.g. 200 "already there" where the route creates."""

    result: Any
    status: int


class Redirect(NamedTuple):
    """A 3xx answer: Location plus the same URL in a small JSON body."""

    body: BaseModel
    location: str


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
    also_ok: tuple[int, ...] = ()
    tag: str = ""  # the OpenAPI tag: the routes module it lives in


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


def _field_name(loc: tuple[Any, ...] | list[Any]) -> str:
    """("tags", 3) -> "tags[3]"; the client shows this next to the reason."""
    name = ""
    for part in loc:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name


def _reason(err: Mapping[str, Any]) -> str:
    """pydantic's error as a short reason a person can act on (no input echoed)."""
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind in ("enum", "literal_error") and "expected" in ctx:
        choices = re.findall(r"'([^']*)'", str(ctx["expected"]))
        return "must be one of " + ", ".join(choices)
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "is not a known field"
    if kind == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters"
    if kind == "string_too_short":
        return (
            "must not be empty"
            if ctx.get("min_length") == 1
            else f"must be at least {ctx.get('min_length')} characters"
        )
    if kind == "too_long":
        return f"must have at most {ctx.get('max_length')} items"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        bound = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=", "less_than": "<"}
        limit = next(iter(ctx.values()), "")
        return f"must be {bound[kind]} {limit}"
    msg = str(err["msg"])
    msg = msg.removeprefix("Value error, ")
    return msg[:1].lower() + msg[1:]


def describe_errors(exc: ValidationError, prefix: str) -> str:
    """`detail` for a 422: each field and what is wrong with it, joined by "; "."""
    parts = []
    for err in exc.errors(include_url=False, include_input=False):
        parts.append(f"{_field_name(err['loc']) or prefix}: {_reason(err)}")
    return "; ".join(dict.fromkeys(parts))  # a union type can repeat the same line


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
            "body: must be a JSON object",
            [{"loc": ["body"], "msg": "Input should be an object", "type": "dict_type"}],
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailedError(describe_errors(exc, "body"), _field_errors(exc, "body")) from exc


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
        f"{field_name}: is required (a multipart/form-data file field)",
        [{"loc": ["body", field_name], "msg": "Field required", "type": "missing"}],
    )


def parse_query(request: Any, model: type[BaseModel]) -> BaseModel:
    params: dict[str, Any] = {}
    multi = request.query_params or {}
    for key in multi:
        values = multi.getlist(key) if hasattr(multi, "getlist") else [multi[key]]
        if len(values) > 1:
            raise ValidationFailedError(
                f"{key}: given more than once",
                [{"loc": ["query", key], "msg": "Given more than once", "type": "duplicate"}],
            )
        params[key] = values[0]
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        raise ValidationFailedError(describe_errors(exc, "query"), _field_errors(exc, "query")) from exc


_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
# Path parameters that are numbers, not ids (a manifest version: 1..999999999).
NUMERIC_PATH_PARAMS = frozenset({"version"})
_VERSION = re.compile(r"^[1-9][0-9]{0,8}$")


def _check_ids(path_params: Mapping[str, str]) -> dict[str, str]:
    """Ids are UUIDs (versions positive numbers); anything else cannot name a
    resource, so it is a 404."""
    checked = {}
    for name, value in path_params.items():
        lowered = value.lower()
        pattern = _VERSION if name in NUMERIC_PATH_PARAMS else _UUID
        if not pattern.match(lowered):
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
    if isinstance(result, WithStatus):
        result, status = result
    if isinstance(result, Page):
        if result.next_cursor:
            headers["X-Next-Cursor"] = result.next_cursor
            headers["Link"] = _next_link(request, result.next_cursor)
        result = result.items
    if isinstance(result, Redirect):
        headers["Location"] = result.location
        result = result.body
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
    also_ok: tuple[int, ...] = (),
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
            also_ok=also_ok,
            form_file=form_file,
            if_match=if_match,
            idempotent=idempotent,
            tag=str(getattr(bp, "_import_name", "")).rsplit(".", 1)[-1],
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
                        "; ".join(f"{k}: this route takes no query parameters" for k in request.query_params),
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


_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


def request_id_for(request: Any) -> str:
    """The caller's X-Request-Id when it is sane (it reaches our logs and headers
    verbatim, so nothing that could forge a log field or a header), else a new one."""
    sent = request.headers.get("x-request-id") if request is not None else None
    if sent and _SANE_REQUEST_ID.match(sent):
        return str(sent)
    import uuid

    return str(uuid.uuid4())


def add_request_id(response: Response, request_id: str) -> Response:
    """X-Request-Id on every answer; in 5xx bodies too, so a user can quote it."""
    response.headers["X-Request-Id"] = request_id
    if response.status_code >= 500:
        body = response.body
        if isinstance(body, (str, bytes)):
            try:
                body = json.loads(body)
            except ValueError:
                body = None
        if isinstance(body, dict):
            response.body = json.dumps({**body, "request_id": request_id}, separators=(",", ":"))
            response.headers["Content-Type"] = "application/json"
    return response


# --- response size: gzip, and Lambda's 6 MB limit ----------------------------------

# Lambda returns at most 6 MiB of response payload (the JSON envelope with the
# body inside: base64 for binary bodies). Keep room for the headers.
LAMBDA_PAYLOAD_LIMIT = 6 * 1024 * 1024
RESPONSE_BODY_BUDGET = LAMBDA_PAYLOAD_LIMIT - 64 * 1024
MIN_COMPRESS_BYTES = 1024  # smaller answers gain nothing from gzip


class CompressedResponse(Response):  # type: ignore[misc]
    """A gzip body. Lambda carries bytes as base64 with isBase64Encoded; API
    Gateway decodes it back for the client (binaryMediaTypes `*/*`, set in
    infra/template.py), and so do `chalice local` and the test client."""

    def to_dict(self, binary_types: list[str] | None = None) -> dict[str, Any]:
        import base64

        response: dict[str, Any] = super().to_dict(None)
        response["body"] = base64.b64encode(self.body).decode("ascii")
        response["isBase64Encoded"] = True
        return response


def accepts_gzip(header: str | None) -> bool:
    """Accept-Encoding names gzip (or *) without q=0."""
    for part in (header or "").lower().split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip() in ("gzip", "*"):
            q = params.strip().removeprefix("q=") if params.strip().startswith("q=") else "1"
            try:
                if float(q) > 0:
                    return True
            except ValueError:
                return False
    return False


def _text_payload_bytes(body: str) -> int:
    """What a text body weighs inside the Lambda envelope (JSON-escaped, as the
    runtime serialises it: non-ASCII characters become \\uXXXX)."""
    return len(json.dumps(body))


def fit_response(request: Any, response: Response) -> Response:
    """gzip bodies over 1 KB when the client accepts it; refuse (406, naming the
    size) an answer that would not fit Lambda's payload limit either way, rather
    than let API Gateway answer an opaque 502.

    Measured at the maximum (500 assets, every field at its longest, two signed
    URLs each): tests/functional/test_response_size.py."""
    body = response.body
    if isinstance(body, dict):
        body = json.dumps(body, separators=(",", ":"))
    if not isinstance(body, str) or response.headers.get("Content-Encoding"):
        return response
    raw = body.encode("utf-8")
    if len(raw) < MIN_COMPRESS_BYTES:
        return response
    vary = [v.strip() for v in str(response.headers.get("Vary", "")).split(",") if v.strip()]
    response.headers["Vary"] = ", ".join([*vary, "Accept-Encoding"])
    gzip_ok = accepts_gzip(request.headers.get("accept-encoding") if request is not None else None)
    if gzip_ok:
        import gzip

        packed = gzip.compress(raw, compresslevel=6, mtime=0)
        if (len(packed) + 2) // 3 * 4 <= RESPONSE_BODY_BUDGET:  # base64 in the envelope
            compressed = CompressedResponse(
                body=packed, status_code=response.status_code, headers=response.headers
            )
            compressed.headers["Content-Encoding"] = "gzip"
            return compressed
    elif _text_payload_bytes(body) <= RESPONSE_BODY_BUDGET:
        return response
    log.warning("an answer of %d bytes does not fit the Lambda payload limit", len(raw))
    hint = "" if gzip_ok else "; ask with Accept-Encoding: gzip"
    detail = f"The answer is {len(raw)} bytes, more than Lambda returns ({LAMBDA_PAYLOAD_LIMIT}){hint}"
    too_big = json_response({"detail": detail}, 406)
    for name in ("X-Request-Id", "Vary", "Access-Control-Allow-Origin", "Access-Control-Expose-Headers"):
        if name in response.headers:
            too_big.headers[name] = response.headers[name]
    return too_big


def add_standard_headers(request: Any, response: Response) -> Response:
    """Security headers on every answer, and CORS for allow-listed origins only."""
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Cache-Control", "no-store")
    origin = request.headers.get("origin") if request is not None else None
    if origin and origin in config.cors_origins():
        headers["Access-Control-Allow-Origin"] = origin
        headers["Access-Control-Expose-Headers"] = "X-Next-Cursor, Link, ETag, X-Request-Id"
        vary = [v.strip() for v in str(headers.get("Vary", "")).split(",") if v.strip()]
        headers["Vary"] = ", ".join(["Origin", *vary])
    return response
