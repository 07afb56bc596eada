"""Fault injection for the local backend: a WSGI layer in front of moto.

Tests fail DynamoDB and S3 calls here, over HTTP, instead of mocking our code
or botocore, so the app meets the failures AWS produces: a write that commits
and then loses its answer, throttling, latency, a 5xx before anything is
applied, a reset connection. With no rules every request passes straight
through. The layer also gives TransactWriteItems DynamoDB's ClientRequestToken
semantics, which moto 5.2.5 ignores.

Control, on the moto endpoint itself:
  POST   /_vidpipe/faults  {"rules": [RULE, ...]}  -> {"ids": [...]}
  GET    /_vidpipe/faults                          -> {"rules": [RULE + {"id", "hits", "matched"}]}
  DELETE /_vidpipe/faults                          -> clears every rule (and ends their holds)
  POST   /_vidpipe/faults/release  {"id": ...}       -> ends a latency rule's holds now (all without id)
or the environment variable VIDPIPE_FAULTS='{"rules": [...]}' at start.
The rule fields are described on `Rule`; docs/ARCHITECTURE.md has a summary.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import random
import socket
import struct
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote

import requests
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import ThreadedWSGIServer

CONTROL_PATH = "/_vidpipe/faults"
FAULTS_ENV = "VIDPIPE_FAULTS"
IDEMPOTENCY_WINDOW = 600.0  # seconds a TransactWriteItems ClientRequestToken is remembered

FAULT_KINDS = ("lose_response", "throttle", "latency", "error_before", "reset")
THROTTLE_CODES = ("ThrottlingException", "ProvisionedThroughputExceededException", "TransactionConflict")

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class RuleError(ValueError):
    """A rule that cannot be installed (unknown fault, bad field)."""


@dataclass
class Rule:
    """One fault and the requests it hits.

    service: "dynamodb" | "s3" | None (any); operation: AWS operation name or None (any);
    match: substring of the raw request body (DynamoDB) or of the URL path (S3);
    fault: one of FAULT_KINDS; status: 500/503 for error_before (default 500), 500 for
    lose_response (answer 500 after applying instead of dropping the connection);
    code: throttle's error code; delay: latency's seconds;
    times: how many matching requests it hits (None = unlimited; default 1 without a probability);
    probability: chance per matching request; seed: makes the draws reproducible.
    """

    fault: str
    service: str | None = None
    operation: str | None = None
    match: str | None = None
    status: int | None = None
    code: str | None = None
    delay: float = 0.0
    times: int | None = 1
    probability: float | None = None
    seed: int | None = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    hits: int = 0
    matched: int = 0
    _rng: random.Random = field(default_factory=random.Random, repr=False)
    # Set by a release (or by clearing the rules): ends a latency hold early.
    released: threading.Event = field(default_factory=threading.Event, repr=False)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Rule:
        if not isinstance(raw, dict):
            raise RuleError("a rule is a JSON object")
        known = {
            "fault",
            "service",
            "operation",
            "match",
            "status",
            "code",
            "delay",
            "times",
            "probability",
            "seed",
        }
        unknown = set(raw) - known
        if unknown:
            raise RuleError(f"unknown rule fields: {sorted(unknown)}")
        fault = raw.get("fault")
        if fault not in FAULT_KINDS:
            raise RuleError(f"fault must be one of {FAULT_KINDS}, not {fault!r}")
        service = raw.get("service")
        if service not in (None, "dynamodb", "s3"):
            raise RuleError("service must be 'dynamodb' or 's3'")
        probability = raw.get("probability")
        if probability is not None and not 0 <= float(probability) <= 1:
            raise RuleError("probability must be within 0..1")
        # One-shot by default, unlimited by default when drawn at random; null = unlimited.
        times = raw.get("times", 1 if probability is None else None)
        if times is not None and (not isinstance(times, int) or times < 0):
            raise RuleError("times must be a non-negative integer or null")
        status = raw.get("status")
        if fault == "error_before" and status not in (None, 500, 503):
            raise RuleError("error_before answers status 500 or 503")
        if fault == "lose_response" and status not in (None, 500):
            raise RuleError("lose_response takes no status, or 500")
        code = raw.get("code")
        if fault == "throttle" and code not in (None, *THROTTLE_CODES):
            raise RuleError(f"throttle code must be one of {THROTTLE_CODES}")
        delay = float(raw.get("delay") or 0.0)
        if delay < 0:
            raise RuleError("delay must not be negative")
        seed = raw.get("seed")
        return cls(
            fault=fault,
            service=service,
            operation=raw.get("operation"),
            match=raw.get("match"),
            status=status,
            code=code,
            delay=delay,
            times=times,
            probability=None if probability is None else float(probability),
            seed=seed,
            _rng=random.Random(seed),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "fault": self.fault,
            "service": self.service,
            "operation": self.operation,
            "match": self.match,
            "status": self.status,
            "code": self.code,
            "delay": self.delay,
            "times": self.times,
            "probability": self.probability,
            "seed": self.seed,
            "hits": self.hits,
            "matched": self.matched,
        }

    def applies_to(self, request: Call) -> bool:
        if self.service is not None and self.service != request.service:
            return False
        if self.operation is not None and self.operation != request.operation:
            return False
        return self.match is None or self.match in request.match_text()

    def fires(self) -> bool:
        """Counts a matching request; True when this one is hit (caller holds the lock)."""
        if self.times is not None and self.hits >= self.times:
            return False
        self.matched += 1
        if self.probability is not None and self._rng.random() >= self.probability:
            return False
        self.hits += 1
        return True


class Call:
    """What the fault layer knows about one request: service, operation, text to match."""

    def __init__(self, environ: dict[str, Any]) -> None:
        self.environ = environ
        self.method = environ.get("REQUEST_METHOD", "GET")
        self.path = environ.get("PATH_INFO", "/")
        self.query = environ.get("QUERY_STRING", "")
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        self._body: bytes | None = None
        if target.startswith("DynamoDB_"):
            self.service: str | None = "dynamodb"
            self.operation: str | None = target.partition(".")[2]
        elif _signed_for(environ, "s3"):
            self.service = "s3"
            self.operation = s3_operation(self.method, self.path, self.query, environ)
        else:
            self.service = None
            self.operation = None

    @property
    def body(self) -> bytes:
        """The request body, read once and put back for the app to read again."""
        if self._body is None:
            stream = self.environ["wsgi.input"]
            length = self.environ.get("CONTENT_LENGTH")
            if self.environ.get("wsgi.input_terminated") or not length:
                data = stream.read() if self.environ.get("wsgi.input_terminated") else b""
            else:
                data = stream.read(int(length))
            self._body = data
            self.environ["wsgi.input"] = io.BytesIO(data)
        return self._body

    def match_text(self) -> str:
        if self.service == "dynamodb":
            return self.body.decode("utf-8", errors="replace")
        # S3 and anything else: the URL path, decoded and as sent.
        raw = self.environ.get("RAW_URI") or self.environ.get("REQUEST_URI") or ""
        return f"{_wsgi_path(self.path)} {unquote(raw.split('?', 1)[0])}"


def _wsgi_path(path: str) -> str:
    """PATH_INFO is UTF-8 bytes decoded as latin-1 (PEP 3333); get the text back."""
    try:
        return path.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return path


def _signed_for(environ: dict[str, Any], service: str) -> bool:
    scope = f"/{service}/aws4_request"
    if scope in environ.get("HTTP_AUTHORIZATION", ""):
        return True
    query = environ.get("QUERY_STRING", "")
    return "X-Amz-Credential" in query and scope in unquote(query)


_BUCKET_SUBRESOURCES = {
    "cors": "BucketCors",
    "policy": "BucketPolicy",
    "lifecycle": "BucketLifecycleConfiguration",
    "versioning": "BucketVersioning",
    "tagging": "BucketTagging",
    "acl": "BucketAcl",
    "notification": "BucketNotificationConfiguration",
    "encryption": "BucketEncryption",
    "ownershipControls": "BucketOwnershipControls",
    "publicAccessBlock": "PublicAccessBlock",
    "website": "BucketWebsite",
    "logging": "BucketLogging",
}


def s3_operation(method: str, path: str, query: str, environ: dict[str, Any] | None = None) -> str:
    """The S3 operation a path-style request is, from method, path and query."""
    headers = environ or {}
    params = {k for k, _ in parse_qsl(query, keep_blank_values=True)}
    parts = path.lstrip("/").split("/", 1)
    bucket = parts[0]
    key = parts[1] if len(parts) > 1 else ""
    if not bucket:
        return "ListBuckets"
    if key:
        copy = "HTTP_X_AMZ_COPY_SOURCE" in headers
        if method == "PUT":
            if "uploadId" in params:
                return "UploadPartCopy" if copy else "UploadPart"
            if "tagging" in params:
                return "PutObjectTagging"
            if "acl" in params:
                return "PutObjectAcl"
            return "CopyObject" if copy else "PutObject"
        if method == "GET":
            if "uploadId" in params:
                return "ListParts"
            if "tagging" in params:
                return "GetObjectTagging"
            if "acl" in params:
                return "GetObjectAcl"
            return "GetObject"
        if method == "HEAD":
            return "HeadObject"
        if method == "DELETE":
            if "uploadId" in params:
                return "AbortMultipartUpload"
            if "tagging" in params:
                return "DeleteObjectTagging"
            return "DeleteObject"
        if method == "POST":
            if "uploads" in params:
                return "CreateMultipartUpload"
            if "uploadId" in params:
                return "CompleteMultipartUpload"
        return f"{method.title()}Object"
    sub = next((name for p, name in _BUCKET_SUBRESOURCES.items() if p in params), None)
    if method == "POST":
        return "DeleteObjects" if "delete" in params else "PostObject"
    if method == "HEAD":
        return "HeadBucket"
    if method == "PUT":
        return f"Put{sub}" if sub else "CreateBucket"
    if method == "DELETE":
        return f"Delete{sub}" if sub else "DeleteBucket"
    if method == "GET":
        if sub:
            return f"Get{sub}"
        if "uploads" in params:
            return "ListMultipartUploads"
        if "versions" in params:
            return "ListObjectVersions"
        if "location" in params:
            return "GetBucketLocation"
        return "ListObjectsV2" if "list-type" in params else "ListObjects"
    return f"{method.title()}Bucket"


class ConnectionLost(ConnectionAbortedError):
    """Raised into the WSGI server so it gives up on the request without answering."""


class FaultRequestHandler(MotoRequestHandler):
    """moto's request handler, ending the connection when the fault layer lost a request
    (otherwise an HTTP/1.1 connection would wait for the client's next request)."""

    def connection_dropped(self, error: BaseException, environ: Any = None) -> None:
        self.close_connection = True


class FaultServer(ThreadedWSGIServer):
    """werkzeug's threaded server that closes connections marked for reset with RST:
    SO_LINGER 0 and no FIN first (socketserver's shutdown_request sends FIN)."""

    def __init__(self, host: str, port: int, layer: FaultLayer) -> None:
        super().__init__(host, port, layer, handler=FaultRequestHandler)
        self.layer = layer

    def shutdown_request(self, request: Any) -> None:
        if request in self.layer.reset_sockets:
            self.close_request(request)
            return
        super().shutdown_request(request)


class FaultMotoServer(ThreadedMotoServer):
    """moto's ThreadedMotoServer with the fault layer in front of its app."""

    def __init__(self, ip_address: str, port: int, rules: Iterable[dict[str, Any]] = ()) -> None:
        super().__init__(ip_address=ip_address, port=port, verbose=False)
        self.faults = FaultLayer(DomainDispatcherApplication(create_backend_app), rules)

    def _server_entry(self) -> None:
        self._server = FaultServer(self._ip_address, self._port, self.faults)
        self._server_ready_event.set()
        self._server.serve_forever(poll_interval=0.1)  # stop() returns within 0.1 s


@dataclass
class _TokenEntry:
    digest: str
    finished_at: float | None  # None while the first request runs
    status: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


class FaultLayer:
    """The WSGI middleware: rules, the control endpoint, ClientRequestToken replay."""

    def __init__(self, app: WsgiApp, rules: Iterable[dict[str, Any]] = ()) -> None:
        self.app = app
        self._lock = threading.Lock()
        self._rules: list[Rule] = []
        self._tokens: dict[str, _TokenEntry] = {}
        self.reset_sockets: weakref.WeakSet[socket.socket] = weakref.WeakSet()
        self.add([*rules])

    # --- rules ---------------------------------------------------------------------

    def add(self, raw_rules: list[dict[str, Any]]) -> list[str]:
        rules = [Rule.from_json(raw) for raw in raw_rules]
        with self._lock:
            self._rules.extend(rules)
        return [rule.id for rule in rules]

    def clear(self) -> None:
        with self._lock:
            for rule in self._rules:
                rule.released.set()
            self._rules.clear()

    def release(self, rule_id: str | None = None) -> int:
        """End the latency holds of one rule (or of all): held calls go on now, and
        later hits of the rule pass without delay. Returns how many rules matched."""
        with self._lock:
            chosen = [r for r in self._rules if rule_id is None or r.id == rule_id]
            for rule in chosen:
                rule.released.set()
        return len(chosen)

    def rules(self) -> list[dict[str, Any]]:
        with self._lock:
            return [rule.to_json() for rule in self._rules]

    def _pick(self, call: Call) -> Rule | None:
        """The first live rule that hits this request, counted; None when none does."""
        with self._lock:
            if not self._rules:
                return None
            candidates = [r for r in self._rules if r.times is None or r.hits < r.times]
        for rule in candidates:
            if rule.applies_to(call):  # may read the body: outside the lock
                with self._lock:
                    if rule.fires():
                        return rule
        return None

    # --- WSGI ------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "").startswith(CONTROL_PATH):
            return self._control(environ, start_response)
        call = Call(environ)
        rule = self._pick(call)
        if rule is None:
            return self._apply(call, start_response)
        if rule.fault == "latency":
            # At most `delay` s; a release ends the hold at once, so a test that holds
            # a call while another request runs never waits out the whole delay.
            rule.released.wait(rule.delay)
            return self._apply(call, start_response)
        if rule.fault == "throttle":
            return _throttled(call, rule, start_response)
        if rule.fault == "error_before":
            return _server_error(call, rule.status or 500, start_response)
        if rule.fault == "reset":
            self._reset(environ)  # raises
        # lose_response: apply the request for real, then lose its answer.
        status, _, body = _run(lambda sr: self._apply(call, sr))
        del status, body
        if rule.status == 500:
            return _server_error(call, 500, start_response)
        _drop(environ)
        raise ConnectionLost("fault hook: response lost after applying the request")

    def _reset(self, environ: dict[str, Any]) -> None:
        sock = environ.get("werkzeug.socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.reset_sockets.add(sock)
        raise ConnectionLost("fault hook: connection reset before applying the request")

    def _apply(self, call: Call, start_response: StartResponse) -> Iterable[bytes]:
        if call.service == "dynamodb" and call.operation == "TransactWriteItems":
            return self._transact_write(call, start_response)
        return self.app(call.environ, start_response)

    # --- ClientRequestToken -------------------------------------------------------------

    def _transact_write(self, call: Call, start_response: StartResponse) -> Iterable[bytes]:
        """DynamoDB's idempotency for TransactWriteItems, which moto ignores: a token seen
        with a success in the last 10 minutes answers that success again without applying;
        with another request it is IdempotentParameterMismatchException."""
        try:
            token = json.loads(call.body).get("ClientRequestToken")
        except (ValueError, AttributeError):
            token = None
        if not token:
            return self.app(call.environ, start_response)
        digest = hashlib.sha256(call.body).hexdigest()
        now = time.monotonic()
        with self._lock:
            self._tokens = {
                t: e
                for t, e in self._tokens.items()
                if e.finished_at is None or now - e.finished_at < IDEMPOTENCY_WINDOW
            }
            entry = self._tokens.get(token)
            if entry is not None and entry.digest != digest:
                return _dynamodb_error(
                    start_response,
                    "IdempotentParameterMismatchException",
                    "The request uses the same client token as a previous, but non-identical request.",
                )
            if entry is not None and entry.finished_at is None:
                return _dynamodb_error(
                    start_response,
                    "TransactionInProgressException",
                    "The transaction with the given request token is already in progress.",
                )
            if entry is not None:
                start_response(entry.status, list(entry.headers))
                return [entry.body]
            self._tokens[token] = _TokenEntry(digest=digest, finished_at=None)
        stored = False
        try:
            status, headers, body = _run(lambda sr: self.app(call.environ, sr))
            if status.startswith("200"):
                with self._lock:
                    self._tokens[token] = _TokenEntry(digest, time.monotonic(), status, headers, body)
                stored = True
        finally:
            if not stored:
                with self._lock:
                    self._tokens.pop(token, None)
        start_response(status, headers)
        return [body]

    # --- control endpoint ---------------------------------------------------------------

    def _control(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD")
        if environ.get("PATH_INFO", "").rstrip("/") == CONTROL_PATH + "/release" and method == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            try:
                payload = json.loads(environ["wsgi.input"].read(length) or b"{}")
                rule_id = payload.get("id") if isinstance(payload, dict) else None
            except ValueError as exc:
                return _json(start_response, "400 Bad Request", {"detail": str(exc)})
            return _json(start_response, "200 OK", {"released": self.release(rule_id)})
        if method == "GET":
            return _json(start_response, "200 OK", {"rules": self.rules()})
        if method == "DELETE":
            self.clear()
            return _json(start_response, "200 OK", {"rules": []})
        if method == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            try:
                payload = json.loads(environ["wsgi.input"].read(length) or b"{}")
                raw_rules = payload["rules"] if isinstance(payload, dict) else None
                if not isinstance(raw_rules, list):
                    raise RuleError('expected {"rules": [...]}')
                ids = self.add(raw_rules)
            except (ValueError, KeyError, TypeError) as exc:
                return _json(start_response, "400 Bad Request", {"detail": str(exc)})
            return _json(start_response, "200 OK", {"ids": ids})
        return _json(start_response, "405 Method Not Allowed", {"detail": "GET, POST or DELETE"})


def _run(app: Callable[[StartResponse], Iterable[bytes]]) -> tuple[str, list[tuple[str, str]], bytes]:
    """Run a WSGI app to the end; returns its status, headers and whole body."""
    answer: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        answer["status"], answer["headers"] = status, headers
        return lambda data: None

    result = app(start_response)
    try:
        body = b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return answer["status"], answer["headers"], body


def _drop(environ: dict[str, Any]) -> None:
    """Close the connection (FIN) with nothing sent; the client sees it closed early."""
    sock = environ.get("werkzeug.socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _json(
    start_response: StartResponse,
    status: str,
    payload: Any,
    content_type: str = "application/json",
    headers: Iterable[tuple[str, str]] = (),
) -> list[bytes]:
    body = json.dumps(payload).encode()
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body))), *headers])
    return [body]


def _dynamodb_error(
    start_response: StartResponse, code: str, message: str, status: str = "400 Bad Request", **extra: Any
) -> list[bytes]:
    payload = {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message, **extra}
    request_id = [("x-amzn-RequestId", uuid.uuid4().hex)]
    return _json(start_response, status, payload, "application/x-amz-json-1.0", request_id)


def _s3_error(start_response: StartResponse, status: str, code: str, message: str) -> list[bytes]:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>"
        f"<RequestId>{uuid.uuid4().hex}</RequestId></Error>"
    ).encode()
    start_response(status, [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))])
    return [body]


def _throttled(call: Call, rule: Rule, start_response: StartResponse) -> list[bytes]:
    if call.service == "s3":
        return _s3_error(start_response, "503 Slow Down", "SlowDown", "Please reduce your request rate.")
    code = rule.code or "ThrottlingException"
    if code == "TransactionConflict":
        if call.operation in ("TransactWriteItems", "TransactGetItems"):
            try:
                items = json.loads(call.body).get("TransactItems") or [{}]
            except ValueError:
                items = [{}]
            reasons = [
                {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}
                for _ in items
            ]
            return _dynamodb_error(
                start_response,
                "TransactionCanceledException",
                "Transaction cancelled, please refer cancellation reasons for specific reasons "
                f"[{', '.join('TransactionConflict' for _ in items)}]",
                CancellationReasons=reasons,
            )
        return _dynamodb_error(
            start_response,
            "TransactionConflictException",
            "Transaction is ongoing for the item",
        )
    message = {
        "ThrottlingException": "Rate of requests exceeds the allowed throughput.",
        "ProvisionedThroughputExceededException": "The level of configured provisioned throughput "
        "for the table was exceeded. Consider increasing your provisioning level with the "
        "UpdateTable API.",
    }[code]
    return _dynamodb_error(start_response, code, message)


def _server_error(call: Call, status: int, start_response: StartResponse) -> list[bytes]:
    if call.service == "s3":
        if status == 503:
            return _s3_error(start_response, "503 Service Unavailable", "ServiceUnavailable", "Try again.")
        return _s3_error(
            start_response, "500 Internal Server Error", "InternalError", "We encountered an internal error."
        )
    if status == 503:
        return _dynamodb_error(
            start_response, "ServiceUnavailable", "Service unavailable.", "503 Service Unavailable"
        )
    return _dynamodb_error(
        start_response, "InternalServerError", "Internal server error", "500 Internal Server Error"
    )


def rules_from_env(value: str | None) -> list[dict[str, Any]]:
    """The rules in VIDPIPE_FAULTS ('{"rules": [...]}'), or none."""
    if not value:
        return []
    payload = json.loads(value)
    rules = payload.get("rules") if isinstance(payload, dict) else None
    if not isinstance(rules, list):
        raise RuleError(f'{FAULTS_ENV} must be {{"rules": [...]}}')
    return rules


class FaultClient:
    """Installs and clears rules on a running backend over HTTP (tests, soak runs)."""

    def __init__(self, endpoint: str, timeout: float = 30.0) -> None:
        self.url = endpoint.rstrip("/") + CONTROL_PATH
        self.timeout = timeout

    def inject(self, **rule: Any) -> str:
        """Adds one rule; returns its id."""
        return self.inject_many([rule])[0]

    def inject_many(self, rules: list[dict[str, Any]]) -> list[str]:
        r = requests.post(self.url, json={"rules": rules}, timeout=self.timeout)
        if r.status_code != 200:
            raise RuleError(r.text)
        return list(r.json()["ids"])

    def rules(self) -> list[dict[str, Any]]:
        r = requests.get(self.url, timeout=self.timeout)
        r.raise_for_status()
        return list(r.json()["rules"])

    def rule(self, rule_id: str) -> dict[str, Any]:
        return next(rule for rule in self.rules() if rule["id"] == rule_id)

    def hits(self, rule_id: str) -> int:
        return int(self.rule(rule_id)["hits"])

    def clear(self) -> None:
        requests.delete(self.url, timeout=self.timeout).raise_for_status()

    def release(self, rule_id: str | None = None) -> int:
        """End a latency rule's holds now (all rules' without an id)."""
        body = {"id": rule_id} if rule_id else {}
        r = requests.post(self.url + "/release", json=body, timeout=self.timeout)
        r.raise_for_status()
        return int(r.json()["released"])
