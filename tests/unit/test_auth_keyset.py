"""The JWKS cache's timing rules, with a hand-driven clock and an in-memory issuer.

`KeySet` takes its fetch function and clock as constructor arguments; here the
fetch is a fake issuer that records calls, so the timing rules (TTL, refresh
interval, backoff, stale keys on failure) are checked without sleeping. The
HTTP fetch itself is covered in test_auth_oidc.py against a real server.
"""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib import auth
from chalicelib.errors import ServiceUnavailableError, UnauthorizedError
from tests.oidc_issuer import ec_key, rsa_key


class FakeIssuer:
    def __init__(self, *kids: str) -> None:
        self.kids = list(kids)
        self.down = False
        self.calls = 0

    def __call__(self, url: str) -> dict[str, Any]:
        self.calls += 1
        if self.down:
            raise auth.JwksUnavailableError("connection refused")
        return {"keys": [rsa_key(kid).jwk() for kid in self.kids]}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def timing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWKS_CACHE_TTL_SECONDS", "900")
    monkeypatch.setenv("JWKS_MIN_REFRESH_SECONDS", "30")


def key_set(issuer: FakeIssuer, clock: Clock) -> auth.KeySet:
    return auth.KeySet("https://issuer.example/.well-known/jwks.json", fetch=issuer, clock=clock)


def test_keys_are_served_from_the_cache_until_the_ttl_runs_out() -> None:
    issuer, clock = FakeIssuer("k1"), Clock()
    keys = key_set(issuer, clock)
    for _ in range(10):
        assert keys.signing_key("k1").key_id == "k1"
    clock.now += 899
    keys.signing_key("k1")
    assert issuer.calls == 1
    clock.now += 1
    keys.signing_key("k1")
    assert issuer.calls == 2


def test_a_key_dropped_by_the_issuer_stops_verifying_after_the_ttl() -> None:
    issuer, clock = FakeIssuer("k1", "k2"), Clock()
    keys = key_set(issuer, clock)
    keys.signing_key("k2")
    issuer.kids = ["k1"]
    clock.now += 900
    with pytest.raises(UnauthorizedError):
        keys.signing_key("k2")


def test_an_unknown_kid_refreshes_at_most_once_per_interval() -> None:
    issuer, clock = FakeIssuer("k1"), Clock()
    keys = key_set(issuer, clock)
    keys.signing_key("k1")
    issuer.kids = ["k1", "k2"]  # rotation published right after our first fetch
    for _ in range(20):
        with pytest.raises(UnauthorizedError):
            keys.signing_key("k2")
    assert issuer.calls == 1
    clock.now += 30
    assert keys.signing_key("k2").key_id == "k2"
    assert issuer.calls == 2


def test_a_failed_refresh_keeps_the_keys_already_held() -> None:
    issuer, clock = FakeIssuer("k1"), Clock()
    keys = key_set(issuer, clock)
    keys.signing_key("k1")
    issuer.down = True
    clock.now += 900
    assert keys.signing_key("k1").key_id == "k1"
    assert issuer.calls == 2


def test_a_failed_first_fetch_is_an_outage_retried_after_a_short_backoff() -> None:
    issuer, clock = FakeIssuer("k1"), Clock()
    issuer.down = True
    keys = key_set(issuer, clock)
    for _ in range(5):
        with pytest.raises(ServiceUnavailableError):
            keys.signing_key("k1")
    assert issuer.calls == 1
    issuer.down = False
    clock.now += auth.FAILED_FETCH_BACKOFF_SECONDS
    assert keys.signing_key("k1").key_id == "k1"
    assert issuer.calls == 2


def test_a_key_set_without_usable_keys_does_not_replace_the_keys_held() -> None:
    issuer, clock = FakeIssuer("k1"), Clock()
    keys = key_set(issuer, clock)
    keys.signing_key("k1")
    issuer.kids = []
    clock.now += 900
    assert keys.signing_key("k1").key_id == "k1"


# --- which published keys are usable ------------------------------------------------------


def test_rsa_and_p256_signature_keys_are_usable_with_their_one_algorithm() -> None:
    keys = auth.usable_keys({"keys": [rsa_key("r").jwk(), ec_key("e").jwk()]})
    assert {kid: k.algorithm_name for kid, k in keys.items()} == {"r": "RS256", "e": "ES256"}


def test_a_key_without_alg_gets_the_algorithm_of_its_type() -> None:
    jwk = {k: v for k, v in rsa_key("r").jwk().items() if k != "alg"}
    assert auth.usable_keys({"keys": [jwk]})["r"].algorithm_name == "RS256"


@pytest.mark.parametrize(
    "entry",
    [
        {"kty": "oct", "kid": "h", "k": "c2VjcmV0"},  # a symmetric key would enable HS256
        {**rsa_key("r").jwk(), "use": "enc"},
        {**rsa_key("r").jwk(), "alg": "RS512"},
        {**rsa_key("r").jwk(), "alg": "HS256"},
        {**ec_key("e").jwk(), "alg": "RS256"},
        {**rsa_key("r").jwk(), "kid": ""},
        {**rsa_key("r").jwk(), "n": "not-base64!"},
        {**rsa_key("r").jwk(), "d": "private-material"},
        "not-an-object",
    ],
    ids=["oct", "use-enc", "rs512", "hs256", "ec-claims-rs256", "no-kid", "bad-modulus", "private", "junk"],
)
def test_keys_we_would_not_verify_with_are_skipped(entry: Any) -> None:
    keys = auth.usable_keys({"keys": [entry, rsa_key("good").jwk()]})
    assert list(keys) == ["good"]


def test_an_ec_key_on_another_curve_is_skipped() -> None:
    from cryptography.hazmat.primitives.asymmetric import ec
    from jwt.algorithms import ECAlgorithm

    p384 = ec.generate_private_key(ec.SECP384R1()).public_key()
    entry = {**ECAlgorithm.to_jwk(p384, as_dict=True), "kid": "p384"}
    assert list(auth.usable_keys({"keys": [entry, ec_key("good").jwk()]})) == ["good"]


def test_a_short_rsa_key_is_skipped() -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa
    from jwt.algorithms import RSAAlgorithm

    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()
    entry = {**RSAAlgorithm.to_jwk(weak, as_dict=True), "kid": "weak"}
    with pytest.raises(auth.JwksUnavailableError):
        auth.usable_keys({"keys": [entry]})


@pytest.mark.parametrize("document", [{}, {"keys": "x"}, [], {"keys": []}])
def test_a_document_without_usable_keys_is_unavailable(document: Any) -> None:
    with pytest.raises(auth.JwksUnavailableError):
        auth.usable_keys(document)
