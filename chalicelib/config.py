"""Settings read from the environment at call time.

Nothing here is an import-time constant: `chalice.test.Client` only applies a
stage's environment while a request is being handled, and the Lambda runtime
may reuse a process across configuration changes in tests.
"""

from __future__ import annotations

import os


def _env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw else default


def stage() -> str:
    return _env("APP_STAGE", "local")


def region() -> str:
    return _env("AWS_REGION") or _env("AWS_DEFAULT_REGION") or "us-east-1"


def table_prefix() -> str:
    return _env("TABLE_PREFIX", "vidpipe-local")


def table_name(suffix: str) -> str:
    return f"{table_prefix()}-{suffix}"


def dynamodb_endpoint() -> str | None:
    """Endpoint override for DynamoDB (the embedded moto server locally)."""
    return _env("DYNAMODB_ENDPOINT_URL") or _env("AWS_ENDPOINT_URL") or None


def s3_endpoint() -> str | None:
    return _env("S3_ENDPOINT_URL") or _env("AWS_ENDPOINT_URL") or None


def bucket_name() -> str:
    return _env("BUCKET_NAME", "vidpipe-local-assets")


def auth_mode() -> str:
    """`hs256` (local dev tokens) or `oidc` (issuer-signed tokens)."""
    return _env("AUTH_MODE", "hs256")


def jwt_secret() -> str:
    return _env("JWT_SECRET")


def jwt_issuer() -> str | None:
    return _env("JWT_ISSUER") or None


def jwt_audience() -> str | None:
    return _env("JWT_AUDIENCE") or None


def cursor_secret() -> bytes:
    """Key for HMAC-signing pagination cursors. Only the local stage (dev tokens)
    may fall back to its JWT secret; elsewhere a missing secret is a deployment
    error, never a guessable default."""
    secret = _env("CURSOR_SECRET") or (jwt_secret() if auth_mode() == "hs256" else "")
    if not secret:
        raise RuntimeError("CURSOR_SECRET is not configured")
    return secret.encode()


def cors_origins() -> tuple[str, ...]:
    """Allowed browser origins: the stage's list plus CORS_EXTRA_ORIGINS (set by
    whoever runs a local server for another origin, e.g. the browser test)."""
    raw = f"{_env('CORS_ALLOW_ORIGINS')},{_env('CORS_EXTRA_ORIGINS')}"
    return tuple(o.strip() for o in raw.split(",") if o.strip())


def max_upload_bytes() -> int:
    return _int("MAX_UPLOAD_BYTES", 10 * 1024 * 1024)


def max_direct_upload_bytes() -> int:
    """Multipart uploads through the API: API Gateway/Lambda cap request payloads
    (6 MB invoke, base64 inflates binary by a third), so AWS stages set this lower."""
    return _int("MAX_DIRECT_UPLOAD_BYTES", 10 * 1024 * 1024)


def upload_url_ttl_seconds() -> int:
    return _int("UPLOAD_URL_TTL_SECONDS", 15 * 60)


def upload_complete_window_seconds() -> int:
    """How long after the PUT URL expires a completion is still accepted."""
    return _int("UPLOAD_COMPLETE_WINDOW_SECONDS", 60 * 60)


def image_url_ttl_seconds() -> int:
    return _int("IMAGE_URL_TTL_SECONDS", 60 * 60)


def upload_queue_name() -> str:
    return _env("UPLOAD_QUEUE_NAME", f"{table_prefix()}-upload-events")


def library_cap() -> int:
    """Manifests answered by a list request without `limit` (the web app's whole
    library); beyond it the usual cursor headers lead on."""
    return _int("LIBRARY_CAP", 1000)


def max_assets_per_manifest() -> int:
    return _int("MAX_ASSETS_PER_MANIFEST", 500)


def max_body_bytes() -> int:
    return _int("MAX_JSON_BODY_BYTES", 256 * 1024)


def dynamodb_connect_timeout() -> float:
    """With the read timeout and retries: 4 attempts x 5 s = 20 s worst case, under
    API Gateway's 29 s (PynamoDB's defaults, 15 s + 30 s, are not). The local stage
    sets 5 s: moto's listen queue can hold a connection on a busy machine."""
    return float(_env("DYNAMODB_CONNECT_TIMEOUT", "1"))


def dynamodb_read_timeout() -> float:
    """4 s on AWS (see the connect timeout). The local stage sets 20 s: moto applies
    DynamoDB calls one at a time, so on a loaded machine a call can wait seconds in
    the queue; timing it out would make botocore re-send a write that then commits
    twice or fails its own condition, and the answer would be a false 409 or 500
    (tests/e2e/test_loaded_machine.py holds every call 5 s)."""
    return float(_env("DYNAMODB_READ_TIMEOUT", "4"))


def dynamodb_max_retries() -> int:
    return _int("DYNAMODB_MAX_RETRIES", 3)


def retry_mode() -> str:
    """botocore retry mode of every client: `standard` (exponential backoff with full
    jitter; retries throttles, 5xx, timeouts and dropped connections, within a retry
    quota). Fixed, not configurable: PynamoDB's model connections always use
    standard mode (with `max_retry_attempts`), and all clients should behave alike."""
    return "standard"


def dynamodb_retry_configuration() -> dict[str, object]:
    """botocore `retries` for DynamoDB clients: 1 + DYNAMODB_MAX_RETRIES attempts.
    (PynamoDB's model connections build the same from `max_retry_attempts`.)"""
    return {"total_max_attempts": 1 + dynamodb_max_retries(), "mode": retry_mode()}


def dynamodb_resolve_budget_seconds() -> float:
    """After a write's outcome stayed unknown, a read of our own write is made only
    if the request has spent less than this, so the answer still fits the 29 s
    API Gateway limit; otherwise the answer is 503 (the client retries with its
    Idempotency-Key)."""
    return float(_env("DYNAMODB_RESOLVE_BUDGET_SECONDS", "8"))


def s3_connect_timeout() -> float:
    return float(_env("S3_CONNECT_TIMEOUT", "2"))


def s3_read_timeout() -> float:
    return float(_env("S3_READ_TIMEOUT", "10"))


def s3_max_attempts() -> int:
    """Total attempts per S3 call (first try included)."""
    return _int("S3_MAX_ATTEMPTS", 3)


def retry_after_seconds() -> int:
    """What a 503 tells the client to wait before retrying."""
    return _int("RETRY_AFTER_SECONDS", 1)


# --- OIDC token verification (AUTH_MODE=oidc) -------------------------------------


def jwt_audiences() -> tuple[str, ...]:
    """Accepted audiences (comma-separated JWT_AUDIENCE): an ID token's `aud`, or a
    Cognito access token's `client_id` (the app client id in both cases)."""
    return tuple(a.strip() for a in _env("JWT_AUDIENCE").split(",") if a.strip())


def jwks_url() -> str | None:
    """The issuer's key set: JWKS_URL, else `<JWT_ISSUER>/.well-known/jwks.json`."""
    explicit = _env("JWKS_URL")
    if explicit:
        return explicit
    issuer = jwt_issuer()
    return f"{issuer.rstrip('/')}/.well-known/jwks.json" if issuer else None


def jwt_token_uses() -> frozenset[str]:
    """Allowed `token_use` values where the issuer sets the claim (Cognito does)."""
    raw = _env("JWT_TOKEN_USE", "access,id")
    return frozenset(u.strip() for u in raw.split(",") if u.strip())


def jwks_cache_ttl_seconds() -> float:
    """How long a fetched key set is trusted before it is fetched again; also how long
    a key removed from the issuer's set keeps verifying tokens in a warm process."""
    return float(_env("JWKS_CACHE_TTL_SECONDS", "900"))


def jwks_min_refresh_seconds() -> float:
    """Least time between two fetches of the key set (unknown `kid`, failed fetches):
    a flood of tokens with made-up key ids costs the issuer one request per interval."""
    return float(_env("JWKS_MIN_REFRESH_SECONDS", "30"))


def jwks_fetch_timeout() -> float:
    return float(_env("JWKS_FETCH_TIMEOUT", "2"))


def idempotency_ttl_seconds() -> int:
    return _int("IDEMPOTENCY_TTL_SECONDS", 24 * 3600)
