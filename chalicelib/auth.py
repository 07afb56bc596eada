"""Bearer-token verification: the `sub` claim is the owner id.

Two modes, chosen by the stage's AUTH_MODE:

- `hs256` (local stage): HS256 dev tokens signed with JWT_SECRET (`make token`).
- `oidc` (AWS stages): tokens from an OIDC issuer such as a Cognito user pool,
  RS256 or ES256, verified against the issuer's JWKS. The key comes from the
  JWKS entry named by the token's `kid`, and that entry alone fixes the
  algorithm (RSA key -> RS256, P-256 key -> ES256): the token header can pick
  a key but never the key type or the algorithm family, so `alg=none` and
  HS256-signed-with-the-public-key are refused (tests/unit/test_auth_oidc.py).
  `jku`/`x5u`/`jwk` header parameters are ignored; keys come only from JWKS_URL.

PyJWT, cryptography and urllib are imported on first use, so routes that need
no token (health, openapi) do not pay for them at cold start.

Failures are `UnauthorizedError` with a short fixed detail that never echoes the
token; an issuer whose key set cannot be fetched (and none is cached) is a
`ServiceUnavailableError`: the token may be fine, so telling the client to log
in again would be wrong.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

from chalicelib import config
from chalicelib.errors import ServiceUnavailableError, UnauthorizedError

log = logging.getLogger(__name__)

MAX_SUB_LENGTH = 256
MAX_TOKEN_LENGTH = 8192  # Cognito tokens are ~1-4 KB; refuse before parsing anything bigger
LEEWAY_SECONDS = 30
# The only algorithms accepted in oidc mode, each bound to the JWK key type that must carry it.
ALLOWED_ALGORITHMS = ("RS256", "ES256")
MIN_RSA_BITS = 2048
MAX_JWKS_BYTES = 256 * 1024
FAILED_FETCH_BACKOFF_SECONDS = 5.0

INVALID_TOKEN = "Invalid or expired token"


def bearer_token(headers: Mapping[str, str]) -> str:
    header = headers.get("authorization") or ""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise UnauthorizedError("Missing bearer token")
    return token.strip()


def verify(token: str) -> dict[str, Any]:
    """Claims of a valid token; `UnauthorizedError` for anything else."""
    if len(token) > MAX_TOKEN_LENGTH:
        raise UnauthorizedError(INVALID_TOKEN)
    mode = config.auth_mode()
    if mode == "hs256":
        return _verify_dev_token(token)
    if mode == "oidc":
        return _verify_oidc_token(token)
    raise UnauthorizedError(f"Auth mode {mode!r} is not configured on this stage")


def owner_from_headers(headers: Mapping[str, str]) -> str:
    claims = verify(bearer_token(headers))
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub or len(sub) > MAX_SUB_LENGTH or not sub.isprintable():
        raise UnauthorizedError("Token has no usable subject")
    return sub


def mint_dev_token(sub: str, secret: str, ttl_seconds: int = 12 * 3600) -> str:
    """A local-stage token (used by `make token` and the tests)."""
    import jwt

    now = int(time.time())
    return jwt.encode({"sub": sub, "iat": now, "exp": now + ttl_seconds}, secret, algorithm="HS256")


# --- hs256: local dev tokens ---------------------------------------------------------


def _verify_dev_token(token: str) -> dict[str, Any]:
    import jwt

    secret = config.jwt_secret()
    if not secret:
        raise UnauthorizedError("Token verification is not configured")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            audience=config.jwt_audience(),
            issuer=config.jwt_issuer(),
            options={"require": ["sub", "exp"]},
            leeway=LEEWAY_SECONDS,
        )
    except jwt.PyJWTError as exc:
        raise UnauthorizedError(INVALID_TOKEN) from exc
    return claims


# --- oidc: issuer-signed tokens --------------------------------------------------------


def _verify_oidc_token(token: str) -> dict[str, Any]:
    import jwt

    issuer = config.jwt_issuer()
    audiences = config.jwt_audiences()
    url = config.jwks_url()
    if not issuer or not audiences or not url:
        raise UnauthorizedError("Token verification is not configured")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise UnauthorizedError(INVALID_TOKEN) from exc
    alg, kid = header.get("alg"), header.get("kid")
    if alg not in ALLOWED_ALGORITHMS or not isinstance(kid, str) or not kid:
        _reject("algorithm not allowed or no kid")
    key = _key_set(url).signing_key(kid)
    if key.algorithm_name != alg:
        _reject("algorithm does not match the key")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key.key,
            algorithms=[key.algorithm_name],  # one algorithm, fixed by the JWKS entry
            issuer=issuer,
            options={"require": ["exp", "iss", "sub"], "verify_aud": False},
            leeway=LEEWAY_SECONDS,
        )
    except jwt.PyJWTError as exc:
        _reject(type(exc).__name__, exc)
    _check_audience(claims, audiences)
    if "token_use" in claims:
        token_use = claims["token_use"]
        if not isinstance(token_use, str) or token_use not in config.jwt_token_uses():
            _reject("token_use not allowed")
    return claims


def _check_audience(claims: Mapping[str, Any], audiences: tuple[str, ...]) -> None:
    """ID tokens (and most issuers) name the client in `aud`; Cognito access tokens have
    no `aud` and name it in `client_id`. `aud` wins when present."""
    if "aud" in claims:
        aud = claims["aud"]
        values = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if any(isinstance(v, str) and v in audiences for v in values):
            return
    elif isinstance(claims.get("client_id"), str) and claims["client_id"] in audiences:
        return
    _reject("audience")


def _reject(reason: str, cause: BaseException | None = None) -> NoReturn:
    log.info("bearer token rejected: %s", reason)
    raise UnauthorizedError(INVALID_TOKEN) from cause


# --- the issuer's key set ----------------------------------------------------------------


class JwksUnavailableError(Exception):
    """The key set could not be fetched or held no usable key."""


class KeySet:
    """The signing keys of one JWKS URL, cached in-process.

    Fetched on first use and again after `JWKS_CACHE_TTL_SECONDS`; a token whose `kid`
    is unknown triggers a refetch (key rotation), but fetches are at least
    `JWKS_MIN_REFRESH_SECONDS` apart, so a flood of made-up kids costs the issuer one
    request per interval (test: flood of unknown kids fetches once). A failed fetch
    keeps the keys already held (an issuer blip does not lock everyone out) and is
    retried after a short backoff.

    PyJWT's PyJWKClient is close, but its cooldown counts from the last *successful*
    fetch (an unreachable issuer is hit by every unknown-kid request), an expired
    cache plus a failed fetch refuses every token, and it has no injectable clock.
    """

    def __init__(
        self,
        url: str,
        fetch: Callable[[str], dict[str, Any]] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self._fetch = fetch or _fetch_jwks
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: dict[str, Any] | None = None  # kid -> jwt.PyJWK
        self._fetched_at = 0.0
        self._attempted_at: float | None = None

    def signing_key(self, kid: str) -> Any:
        """The `jwt.PyJWK` for `kid`; UnauthorizedError if the issuer has no such key."""
        with self._lock:
            now = self._clock()
            if self._keys is None or now - self._fetched_at >= config.jwks_cache_ttl_seconds():
                self._refresh(now, min(FAILED_FETCH_BACKOFF_SECONDS, config.jwks_min_refresh_seconds()))
            if self._keys is None:
                raise ServiceUnavailableError("Token signing keys are unavailable")
            key = self._keys.get(kid)
            if key is None:
                self._refresh(now, config.jwks_min_refresh_seconds())
                key = self._keys.get(kid)
        if key is None:
            _reject("unknown kid")
        return key

    def _refresh(self, now: float, min_interval: float) -> None:
        if self._attempted_at is not None and now - self._attempted_at < min_interval:
            return
        self._attempted_at = now
        try:
            keys = usable_keys(self._fetch(self.url))
        except JwksUnavailableError as exc:
            log.warning("JWKS fetch from %s failed: %s", self.url, exc)
            return
        self._keys, self._fetched_at = keys, now


_key_sets: dict[str, KeySet] = {}
_key_sets_lock = threading.Lock()


def _key_set(url: str) -> KeySet:
    with _key_sets_lock:
        key_set = _key_sets.get(url)
        if key_set is None:
            key_set = _key_sets[url] = KeySet(url)
        return key_set


def clear_key_sets() -> None:
    """Forget every cached key set (tests; a new process starts empty anyway)."""
    with _key_sets_lock:
        _key_sets.clear()


def usable_keys(document: Any) -> dict[str, Any]:
    """kid -> `jwt.PyJWK` for the signature keys we accept; the rest are skipped.

    Each key's algorithm comes from its type, never from the token: RSA (>= 2048 bits)
    -> RS256, EC P-256 -> ES256. A JWK `alg` naming anything else excludes the key.
    """
    import jwt

    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise JwksUnavailableError("document has no keys list")
    keys: dict[str, Any] = {}
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        kid, kty = entry.get("kid"), entry.get("kty")
        if not isinstance(kid, str) or not kid or entry.get("use", "sig") != "sig" or "d" in entry:
            continue  # not a public signature key
        if kty == "RSA":
            alg = "RS256"
        elif kty == "EC" and entry.get("crv") == "P-256":
            alg = "ES256"
        else:
            continue
        if entry.get("alg", alg) != alg:
            continue
        try:
            jwk = jwt.PyJWK(entry, algorithm=alg)
        except (jwt.PyJWTError, KeyError, TypeError, ValueError):
            continue
        if kty == "RSA" and jwk.key.key_size < MIN_RSA_BITS:
            continue
        keys[kid] = jwk
    if not keys:
        raise JwksUnavailableError("no usable signature keys")
    return keys


def _fetch_jwks(url: str) -> dict[str, Any]:
    """GET the key set: https only (plain http only on loopback), no redirects, bounded
    size and time."""
    import http.client
    import json
    import urllib.error
    import urllib.request
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        raise JwksUnavailableError("JWKS_URL must be an https URL")

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with opener.open(request, timeout=config.jwks_fetch_timeout()) as response:
            body = response.read(MAX_JWKS_BYTES + 1)
    except (OSError, http.client.HTTPException, ValueError) as exc:  # URLError, timeouts
        raise JwksUnavailableError(type(exc).__name__) from exc
    if len(body) > MAX_JWKS_BYTES:
        raise JwksUnavailableError("document too large")
    try:
        document = json.loads(body)
    except ValueError as exc:
        raise JwksUnavailableError("document is not JSON") from exc
    if not isinstance(document, dict):
        raise JwksUnavailableError("document is not a JSON object")
    return document
