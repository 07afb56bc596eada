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
    """Key for HMAC-signing pagination cursors; falls back to the dev JWT secret."""
    return (_env("CURSOR_SECRET") or jwt_secret() or "unset-cursor-secret").encode()


def cors_origins() -> tuple[str, ...]:
    raw = _env("CORS_ALLOW_ORIGINS")
    return tuple(o.strip() for o in raw.split(",") if o.strip())


def max_assets_per_manifest() -> int:
    return _int("MAX_ASSETS_PER_MANIFEST", 500)


def max_body_bytes() -> int:
    return _int("MAX_JSON_BODY_BYTES", 256 * 1024)


def dynamodb_connect_timeout() -> float:
    return float(_env("DYNAMODB_CONNECT_TIMEOUT", "2"))


def dynamodb_read_timeout() -> float:
    return float(_env("DYNAMODB_READ_TIMEOUT", "5"))


def dynamodb_max_retries() -> int:
    return _int("DYNAMODB_MAX_RETRIES", 3)
