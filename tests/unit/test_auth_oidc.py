"""AUTH_MODE=oidc: issuer-signed tokens verified against a JWKS served over loopback HTTP.

Every token here is really signed (or really forged); the JWKS is fetched by
chalicelib.auth's own HTTP client from a local server. The stage configuration
is plain environment variables, set with monkeypatch as a stage would set them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chalicelib import auth
from chalicelib.errors import ServiceUnavailableError, UnauthorizedError
from tests.oidc_issuer import (
    CLIENT_ID,
    Issuer,
    ec_key,
    hs256_with_public_key,
    rsa_key,
    unsigned_token,
    with_payload,
)


@pytest.fixture
def issuer(monkeypatch: pytest.MonkeyPatch) -> Iterator[Issuer]:
    """An issuer serving one RSA and one EC key, configured as the stage's issuer."""
    server = Issuer(rsa_key("rsa-1"), ec_key("ec-1"))
    for name in ("JWKS_MIN_REFRESH_SECONDS", "JWKS_CACHE_TTL_SECONDS", "JWT_TOKEN_USE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in server.environment().items():
        monkeypatch.setenv(name, value)
    auth.clear_key_sets()
    yield server
    auth.clear_key_sets()
    server.stop()


def refused(token: str) -> UnauthorizedError:
    with pytest.raises(UnauthorizedError) as info:
        auth.verify(token)
    assert info.value.detail == "Invalid or expired token"
    return info.value


# --- valid tokens --------------------------------------------------------------------


def test_a_valid_rs256_id_token_yields_its_claims(issuer: Issuer) -> None:
    claims = issuer.claims("alice")
    assert auth.verify(rsa_key("rsa-1").sign(claims)) == claims


def test_a_valid_es256_token_yields_its_claims(issuer: Issuer) -> None:
    claims = issuer.claims("alice")
    assert auth.verify(ec_key("ec-1").sign(claims)) == claims


def test_the_owner_is_the_subject_of_the_token(issuer: Issuer) -> None:
    token = rsa_key("rsa-1").sign(issuer.claims("user-42"))
    assert auth.owner_from_headers({"authorization": f"Bearer {token}"}) == "user-42"


def test_a_cognito_access_token_is_accepted_by_its_client_id(issuer: Issuer) -> None:
    claims = issuer.access_claims("alice")
    assert "aud" not in claims
    assert auth.verify(rsa_key("rsa-1").sign(claims))["client_id"] == CLIENT_ID


def test_an_audience_list_containing_our_client_is_accepted(issuer: Issuer) -> None:
    token = rsa_key("rsa-1").sign(issuer.claims(aud=["someone-else", CLIENT_ID]))
    assert auth.verify(token)["sub"]


def test_the_key_set_is_fetched_once_for_many_tokens(issuer: Issuer) -> None:
    for _ in range(5):
        auth.verify(rsa_key("rsa-1").sign(issuer.claims()))
        auth.verify(ec_key("ec-1").sign(issuer.claims()))
    assert issuer.fetches == 1


def test_the_jwks_url_defaults_to_the_issuers_well_known_path(
    issuer: Issuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JWKS_URL")
    assert auth.verify(rsa_key("rsa-1").sign(issuer.claims("alice")))["sub"] == "alice"
    assert issuer.fetches == 1


# --- time ------------------------------------------------------------------------------


def test_an_expired_token_is_refused(issuer: Issuer) -> None:
    refused(rsa_key("rsa-1").sign(issuer.claims(exp=int(time.time()) - 60)))


def test_a_token_expired_within_the_leeway_is_still_accepted(issuer: Issuer) -> None:
    assert auth.verify(rsa_key("rsa-1").sign(issuer.claims(exp=int(time.time()) - 10)))


def test_a_token_not_yet_valid_is_refused(issuer: Issuer) -> None:
    refused(rsa_key("rsa-1").sign(issuer.claims(nbf=int(time.time()) + 120)))


def test_a_token_valid_within_the_leeway_is_accepted(issuer: Issuer) -> None:
    assert auth.verify(rsa_key("rsa-1").sign(issuer.claims(nbf=int(time.time()) + 10)))


def test_a_token_without_expiry_is_refused(issuer: Issuer) -> None:
    refused(rsa_key("rsa-1").sign(issuer.claims(exp=None)))


# --- who issued it, for whom, for what ---------------------------------------------------


def test_a_token_from_another_issuer_is_refused(issuer: Issuer) -> None:
    refused(rsa_key("rsa-1").sign(issuer.claims(iss="https://cognito-idp.example/other-pool")))


def test_a_token_for_another_audience_is_refused(issuer: Issuer) -> None:
    refused(rsa_key("rsa-1").sign(issuer.claims(aud="another-client")))


def test_an_access_token_for_another_client_is_refused(issuer: Issuer) -> None:
    refused(rsa_key("rsa-1").sign(issuer.access_claims(client_id="another-client")))


def test_a_token_naming_no_audience_at_all_is_refused(issuer: Issuer) -> None:
    refused(rsa_key("rsa-1").sign(issuer.claims(aud=None)))


def test_an_unexpected_token_use_is_refused(issuer: Issuer) -> None:
    refused(rsa_key("rsa-1").sign(issuer.claims(token_use="refresh")))


def test_id_tokens_are_refused_when_the_stage_allows_only_access_tokens(
    issuer: Issuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JWT_TOKEN_USE", "access")
    refused(rsa_key("rsa-1").sign(issuer.claims()))
    assert auth.verify(rsa_key("rsa-1").sign(issuer.access_claims()))


def test_a_token_without_subject_is_refused(issuer: Issuer) -> None:
    claims = issuer.claims()
    del claims["sub"]
    refused(rsa_key("rsa-1").sign(claims))


@pytest.mark.parametrize(
    "odd",
    [
        {"token_use": ["id"]},
        {"token_use": None, "client_id": {"x": 1}, "aud": None},
        {"aud": {"client": CLIENT_ID}},
        {"aud": [["nested"]]},
        {"exp": "tomorrow"},
        {"nbf": [1]},
        {"iss": [None]},
        {"iat": "now"},
    ],
    ids=str,
)
def test_claims_of_the_wrong_shape_are_refused_not_crashed_on(issuer: Issuer, odd: dict[str, object]) -> None:
    refused(rsa_key("rsa-1").sign_raw(issuer.claims(**odd)))


@pytest.mark.parametrize("payload", [[], "claims", 42, None], ids=str)
def test_a_payload_that_is_not_an_object_is_refused(issuer: Issuer, payload: object) -> None:
    refused(rsa_key("rsa-1").sign_raw(payload))


@pytest.mark.parametrize(
    "header",
    [{"kid": ["rsa-1"]}, {"kid": 1}, {"kid": ""}, {"alg": ["RS256"]}, {"crit": ["exp"]}],
    ids=str,
)
def test_headers_of_the_wrong_shape_are_refused_not_crashed_on(
    issuer: Issuer, header: dict[str, object]
) -> None:
    from tests.oidc_issuer import b64url

    token = rsa_key("rsa-1").sign(issuer.claims())
    _, payload, signature = token.split(".")
    forged_header = b64url(json.dumps({"alg": "RS256", "kid": "rsa-1", **header}).encode())
    refused(f"{forged_header}.{payload}.{signature}")


def test_a_subject_that_is_not_printable_gives_no_owner(issuer: Issuer) -> None:
    token = rsa_key("rsa-1").sign(issuer.claims("bad\nsub"))
    with pytest.raises(UnauthorizedError):
        auth.owner_from_headers({"authorization": f"Bearer {token}"})


def test_a_stage_without_audience_refuses_every_token(
    issuer: Issuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JWT_AUDIENCE")
    with pytest.raises(UnauthorizedError, match="not configured"):
        auth.verify(rsa_key("rsa-1").sign(issuer.claims()))


# --- forgeries and algorithm confusion -----------------------------------------------------


def test_a_tampered_payload_is_refused(issuer: Issuer) -> None:
    token = rsa_key("rsa-1").sign(issuer.claims("alice"))
    refused(with_payload(token, issuer.claims("mallory")))


def test_a_token_signed_by_a_key_the_issuer_does_not_publish_is_refused(issuer: Issuer) -> None:
    impostor = rsa_key("impostor")
    refused(impostor.sign(issuer.claims(), kid="rsa-1"))


def test_alg_none_is_refused_without_fetching_keys(issuer: Issuer) -> None:
    refused(unsigned_token(issuer.claims(), kid="rsa-1"))
    assert issuer.fetches == 0


def test_hs256_signed_with_the_issuers_public_key_is_refused(issuer: Issuer) -> None:
    refused(hs256_with_public_key(issuer.claims(), rsa_key("rsa-1")))
    refused(hs256_with_public_key(issuer.claims(), ec_key("ec-1")))
    assert issuer.fetches == 0  # refused on the header alone


def test_the_token_header_cannot_choose_the_key_type(issuer: Issuer) -> None:
    # An ES256 token pointing at the RSA key, and an RS256 token pointing at the EC key.
    refused(ec_key("ec-1").sign(issuer.claims(), kid="rsa-1"))
    refused(rsa_key("rsa-1").sign(issuer.claims(), kid="ec-1"))


@pytest.mark.parametrize("alg", ["RS384", "RS512", "PS256"])
def test_asymmetric_algorithms_outside_the_allowed_list_are_refused(issuer: Issuer, alg: str) -> None:
    refused(rsa_key("rsa-1").sign(issuer.claims(), alg=alg))


def test_a_token_without_kid_is_refused(issuer: Issuer) -> None:
    import jwt

    refused(jwt.encode(issuer.claims(), rsa_key("rsa-1").private, algorithm="RS256"))


def test_a_local_dev_token_is_refused_on_an_oidc_stage(
    issuer: Issuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JWT_SECRET", "local-dev-secret-of-at-least-32-bytes")
    refused(auth.mint_dev_token("alice", "local-dev-secret-of-at-least-32-bytes"))


@pytest.mark.parametrize("garbage", ["", "a.b", "a.b.c", "not-a-jwt", "x" * 9000])
def test_malformed_tokens_are_refused_without_fetching_keys(issuer: Issuer, garbage: str) -> None:
    refused(garbage)
    assert issuer.fetches == 0


# --- key rotation and the refresh rate limit ---------------------------------------------------


def test_an_unknown_kid_is_refused_then_accepted_once_the_issuer_publishes_the_key(
    issuer: Issuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JWKS_MIN_REFRESH_SECONDS", "0")  # rotate at once instead of waiting 30 s
    old, new = rsa_key("rsa-1"), rsa_key("rsa-2")
    assert auth.verify(old.sign(issuer.claims()))
    refused(new.sign(issuer.claims()))
    assert issuer.fetches == 2  # the unknown kid triggered one refresh

    issuer.keys = [new]  # the issuer rotates
    assert auth.verify(new.sign(issuer.claims("alice")))["sub"] == "alice"
    assert issuer.fetches == 3


def test_a_flood_of_unknown_kids_fetches_the_key_set_once(issuer: Issuer) -> None:
    for i in range(50):
        refused(rsa_key("rsa-1").sign(issuer.claims(), kid=f"bogus-{i}"))
    assert issuer.fetches == 1
    assert auth.verify(rsa_key("rsa-1").sign(issuer.claims()))  # real tokens still pass


def test_an_unreachable_issuer_is_a_service_outage_not_a_bad_token(issuer: Issuer) -> None:
    issuer.status = 503
    with pytest.raises(ServiceUnavailableError):
        auth.verify(rsa_key("rsa-1").sign(issuer.claims()))
    with pytest.raises(ServiceUnavailableError):
        auth.verify(rsa_key("rsa-1").sign(issuer.claims()))
    assert issuer.fetches == 1  # the failure backs off instead of hitting the issuer per request


def test_a_jwks_url_that_is_not_https_is_never_read(
    issuer: Issuer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A perfectly good key set, but behind file:// (urllib would happily read it).
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [rsa_key("rsa-1").jwk()]}))
    monkeypatch.setenv("JWKS_URL", jwks.as_uri())
    with pytest.raises(ServiceUnavailableError):
        auth.verify(rsa_key("rsa-1").sign(issuer.claims()))
