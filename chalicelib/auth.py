"""Bearer-token verification: the `sub` claim is the owner id.

The local stage verifies HS256 tokens signed with a dev secret from the stage
config. PyJWT is imported on first use so routes that need no token (health,
openapi) do not pay for it at cold start.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chalicelib import config
from chalicelib.errors import UnauthorizedError

MAX_SUB_LENGTH = 256


def bearer_token(headers: Mapping[str, str]) -> str:
    header = headers.get("authorization") or ""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise UnauthorizedError("Missing bearer token")
    return token.strip()


def verify(token: str) -> dict[str, Any]:
    """Claims of a valid token; `UnauthorizedError` for anything else."""
    import jwt

    mode = config.auth_mode()
    if mode != "hs256":
        raise UnauthorizedError(f"Auth mode {mode!r} is not configured on this stage")
    secret = config.jwt_secret()
    if not secret:
        raise UnauthorizedError("Token verification is not configured")
    audience = config.jwt_audience()
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            audience=audience,
            issuer=config.jwt_issuer(),
            options={"require": ["sub", "exp"]},
            leeway=30,
        )
    except jwt.PyJWTError as exc:
        raise UnauthorizedError("Invalid or expired token") from exc
    return claims


def owner_from_headers(headers: Mapping[str, str]) -> str:
    claims = verify(bearer_token(headers))
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub or len(sub) > MAX_SUB_LENGTH or not sub.isprintable():
        raise UnauthorizedError("Token has no usable subject")
    return sub


def mint_dev_token(sub: str, secret: str, ttl_seconds: int = 12 * 3600) -> str:
    """A local-stage token (used by `make token` and the tests)."""
    import time

    import jwt

    now = int(time.time())
    return jwt.encode({"sub": sub, "iat": now, "exp": now + ttl_seconds}, secret, algorithm="HS256")
