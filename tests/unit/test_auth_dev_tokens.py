"""AUTH_MODE=hs256 (the local stage) and the bearer header itself."""

from __future__ import annotations

import time

import pytest

from chalicelib import auth
from chalicelib.errors import UnauthorizedError
from tests.oidc_issuer import rsa_key, unsigned_token

SECRET = "a-local-dev-secret-of-at-least-32-bytes"


@pytest.fixture(autouse=True)
def local_stage(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTH_MODE", "hs256")
    monkeypatch.setenv("JWT_SECRET", SECRET)
    for name in ("JWT_ISSUER", "JWT_AUDIENCE"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(
    "headers",
    [{}, {"authorization": ""}, {"authorization": "Basic abc"}, {"authorization": "Bearer "}],
)
def test_a_request_without_a_bearer_token_is_unauthorized(headers: dict[str, str]) -> None:
    with pytest.raises(UnauthorizedError, match="Missing bearer token"):
        auth.bearer_token(headers)


def test_the_bearer_scheme_is_case_insensitive() -> None:
    assert auth.bearer_token({"authorization": "bearer  abc "}) == "abc"


def test_a_dev_token_names_its_owner() -> None:
    token = auth.mint_dev_token("alice", SECRET)
    assert auth.owner_from_headers({"authorization": f"Bearer {token}"}) == "alice"


def test_a_dev_token_signed_with_another_secret_is_refused() -> None:
    with pytest.raises(UnauthorizedError):
        auth.verify(auth.mint_dev_token("alice", "another-secret-of-at-least-32-bytes!!"))


def test_an_expired_dev_token_is_refused() -> None:
    with pytest.raises(UnauthorizedError):
        auth.verify(auth.mint_dev_token("alice", SECRET, ttl_seconds=-60))


def test_an_issuer_signed_token_is_refused_on_the_local_stage() -> None:
    now = int(time.time())
    with pytest.raises(UnauthorizedError):
        auth.verify(rsa_key("rsa-1").sign({"sub": "alice", "exp": now + 60}))


def test_alg_none_is_refused_on_the_local_stage() -> None:
    token = unsigned_token({"sub": "alice", "exp": int(time.time()) + 60}, kid="any")
    with pytest.raises(UnauthorizedError):
        auth.verify(token)


def test_a_stage_without_a_secret_refuses_dev_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JWT_SECRET")
    with pytest.raises(UnauthorizedError, match="not configured"):
        auth.verify(auth.mint_dev_token("alice", SECRET))


def test_an_unknown_auth_mode_refuses_every_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTH_MODE", "off")
    with pytest.raises(UnauthorizedError, match="not configured"):
        auth.verify(auth.mint_dev_token("alice", SECRET))
