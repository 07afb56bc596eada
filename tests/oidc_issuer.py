"""A stand-in OIDC issuer for tests: real key pairs, real signatures, and a JWKS
served over HTTP on loopback (ephemeral port), laid out like a Cognito user pool
(`<issuer>/.well-known/jwks.json`).

Nothing in chalicelib is replaced: the code under test fetches this JWKS with
its own HTTP client, exactly as it fetches Cognito's.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

POOL = "us-east-1_TestPool"
CLIENT_ID = "test-app-client-id"


class SigningKey:
    """One issuer key pair: RSA 2048 (RS256) or EC P-256 (ES256)."""

    def __init__(self, kind: str, kid: str) -> None:
        self.kid = kid
        if kind == "RSA":
            self.alg = "RS256"
            self.private: Any = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        else:
            self.alg = "ES256"
            self.private = ec.generate_private_key(ec.SECP256R1())
        self.public = self.private.public_key()

    def jwk(self) -> dict[str, Any]:
        codec = RSAAlgorithm if self.alg == "RS256" else ECAlgorithm
        return {**codec.to_jwk(self.public, as_dict=True), "kid": self.kid, "alg": self.alg, "use": "sig"}

    def public_pem(self) -> bytes:
        return self.public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign(self, claims: dict[str, Any], alg: str | None = None, **header: Any) -> str:
        return jwt.encode(
            claims, self.private, algorithm=alg or self.alg, headers={"kid": self.kid, **header}
        )

    def sign_raw(self, claims: Any) -> str:
        """Sign any JSON payload, even claims PyJWT's encoder would refuse to build."""
        payload = json.dumps(claims).encode()
        return jwt.PyJWS().encode(payload, self.private, algorithm=self.alg, headers={"kid": self.kid})


@cache
def rsa_key(kid: str) -> SigningKey:
    """Key generation costs ~50 ms; each named key is made once per session."""
    return SigningKey("RSA", kid)


@cache
def ec_key(kid: str) -> SigningKey:
    return SigningKey("EC", kid)


class Issuer:
    """Serves the JWKS of `keys` (mutable: rotate by assigning) and counts fetches."""

    def __init__(self, *keys: SigningKey) -> None:
        self.keys = list(keys)
        self.status = 200
        self.fetches = 0
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path != f"/{POOL}/.well-known/jwks.json":
                    self.send_error(404)
                    return
                issuer.fetches += 1
                body = json.dumps({"keys": [k.jwk() for k in issuer.keys]}).encode()
                self.send_response(issuer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # a short poll interval keeps shutdown() (once per test) from costing 0.5 s
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.01,), daemon=True)
        self._thread.start()
        host, port = str(self._server.server_address[0]), self._server.server_address[1]
        self.url = f"http://{host}:{port}/{POOL}"  # the `iss` value
        self.jwks_url = f"{self.url}/.well-known/jwks.json"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def environment(self) -> dict[str, str]:
        """The stage variables an AWS stage would set for this issuer."""
        return {
            "AUTH_MODE": "oidc",
            "JWT_ISSUER": self.url,
            "JWT_AUDIENCE": CLIENT_ID,
            "JWKS_URL": self.jwks_url,
        }

    def claims(self, sub: str | None = None, **overrides: Any) -> dict[str, Any]:
        """Claims shaped like a Cognito ID token; `None` values remove a claim."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "sub": sub or f"user-{uuid.uuid4()}",
            "iss": self.url,
            "aud": CLIENT_ID,
            "token_use": "id",
            "auth_time": now,
            "iat": now,
            "exp": now + 3600,
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def access_claims(self, sub: str | None = None, **overrides: Any) -> dict[str, Any]:
        """Claims shaped like a Cognito access token: `client_id` and no `aud`."""
        return self.claims(sub, **{"aud": None, "client_id": CLIENT_ID, "token_use": "access", **overrides})


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segment(obj: dict[str, Any]) -> str:
    return b64url(json.dumps(obj, separators=(",", ":")).encode())


def unsigned_token(claims: dict[str, Any], kid: str) -> str:
    """alg=none with an empty signature (PyJWT will not mint one for us)."""
    return f"{_segment({'alg': 'none', 'typ': 'JWT', 'kid': kid})}.{_segment(claims)}."


def hs256_with_public_key(claims: dict[str, Any], key: SigningKey) -> str:
    """The classic confusion attack: HMAC-SHA256 keyed with the issuer's public PEM."""
    signing_input = f"{_segment({'alg': 'HS256', 'typ': 'JWT', 'kid': key.kid})}.{_segment(claims)}"
    mac = hmac.new(key.public_pem(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(mac)}"


def with_payload(token: str, claims: dict[str, Any]) -> str:
    """`token` with its payload replaced and the original signature kept."""
    header, _, signature = token.split(".")
    return f"{header}.{_segment(claims)}.{signature}"
