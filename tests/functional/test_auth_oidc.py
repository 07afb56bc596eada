"""The app on an OIDC stage: issuer-signed tokens through `chalice.test.Client`, moto over HTTP.

How the stage is set up, and why this way: `chalice.test.Client` applies a
stage's environment only while it handles a request (`_patched_env_vars`:
`os.environ.copy()` updated with the stage's variables), so stage variables win
over anything set in `os.environ`. The `local` stage sets AUTH_MODE=hs256, so
monkeypatching AUTH_MODE=oidc would be silently overridden; the JWKS server
listens on an ephemeral port, so no stage in the committed .chalice/config.json
can name it. Instead this module writes a throwaway project directory whose
.chalice/config.json is the real one plus an `oidc` stage: the local stage's
variables (same tables and bucket on the session's moto server) with
AUTH_MODE=oidc, JWT_ISSUER, JWT_AUDIENCE and JWKS_URL pointing at the local
issuer, and without the dev JWT_SECRET. The Client reads the stage from there,
exactly as it reads a real stage, and runs our real app.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib import auth
from tests.conftest import ROOT, Api
from tests.oidc_issuer import Issuer, ec_key, rsa_key


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    server = Issuer(rsa_key("rsa-1"), ec_key("ec-1"))
    auth.clear_key_sets()
    yield server
    auth.clear_key_sets()
    server.stop()


@pytest.fixture(scope="module")
def oidc_client(backend: dict[str, str], issuer: Issuer, tmp_path_factory: pytest.TempPathFactory) -> Any:
    from chalice.test import Client

    from app import app

    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    env = {**config["stages"]["local"]["environment_variables"], **issuer.environment()}
    env.pop("JWT_SECRET", None)
    config["stages"]["oidc"] = {**config["stages"]["local"], "environment_variables": env}
    project = tmp_path_factory.mktemp("oidc-project")
    (project / ".chalice").mkdir()
    (project / ".chalice" / "config.json").write_text(json.dumps(config))
    with Client(app, stage_name="oidc", project_dir=str(project)) as client:
        yield client


def user(client: Any, token: str) -> Api:
    return Api(client, token)


def test_an_oidc_user_creates_and_reads_a_manifest_as_its_subject(
    oidc_client: Any, chalice_client: Any, issuer: Issuer, jwt_secret: str
) -> None:
    sub = f"cognito-{time.time_ns()}"
    alice = user(oidc_client, rsa_key("rsa-1").sign(issuer.claims(sub)))
    created = alice.manifest(name="Issued")
    manifest_id = created["manifest_id"]

    r = alice.get(f"/api/manifests/{manifest_id}")
    assert r.status == 200, r.text
    assert r.json["name"] == "Issued"

    # The owner really is `sub`: the same subject through the local stage's dev token sees it ...
    same_owner = user(chalice_client, auth.mint_dev_token(sub, jwt_secret))
    assert same_owner.get(f"/api/manifests/{manifest_id}").status == 200
    # ... and another subject of the same issuer does not.
    stranger = user(oidc_client, ec_key("ec-1").sign(issuer.claims()))
    assert stranger.get(f"/api/manifests/{manifest_id}").status == 404


def test_a_cognito_access_token_lists_the_subjects_manifests(oidc_client: Any, issuer: Issuer) -> None:
    sub = f"cognito-{time.time_ns()}"
    created = user(oidc_client, rsa_key("rsa-1").sign(issuer.claims(sub))).manifest()
    listed = user(oidc_client, rsa_key("rsa-1").sign(issuer.access_claims(sub))).get("/api/manifests")
    assert listed.status == 200, listed.text
    assert [m["manifest_id"] for m in listed.json] == [created["manifest_id"]]


def test_an_expired_token_is_answered_401_with_a_json_detail_that_does_not_echo_it(
    oidc_client: Any, issuer: Issuer
) -> None:
    token = rsa_key("rsa-1").sign(issuer.claims(exp=int(time.time()) - 120))
    r = user(oidc_client, token).get("/api/manifests")
    assert r.status == 401
    assert r.headers["content-type"].startswith("application/json")
    assert r.json == {"detail": "Invalid or expired token"}
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert token not in r.text and token.split(".")[1] not in r.text


def test_a_local_dev_token_is_refused_on_the_oidc_stage(
    oidc_client: Any, jwt_secret: str, issuer: Issuer
) -> None:
    r = user(oidc_client, auth.mint_dev_token("alice", jwt_secret)).post("/api/manifests", {"name": "x"})
    assert r.status == 401
    assert r.json == {"detail": "Invalid or expired token"}


def test_a_forged_token_creates_nothing(oidc_client: Any, issuer: Issuer) -> None:
    from tests.oidc_issuer import hs256_with_public_key

    sub = f"cognito-{time.time_ns()}"
    forged = user(oidc_client, hs256_with_public_key(issuer.claims(sub), rsa_key("rsa-1")))
    assert forged.post("/api/manifests", {"name": "x"}).status == 401
    genuine = user(oidc_client, rsa_key("rsa-1").sign(issuer.claims(sub)))
    assert genuine.get("/api/manifests").json == []


def test_a_request_without_a_token_is_answered_401_json(oidc_client: Any) -> None:
    r = Api(oidc_client, None).get("/api/manifests")
    assert r.status == 401
    assert r.json == {"detail": "Missing bearer token"}


def test_routes_without_auth_need_no_token_on_the_oidc_stage(oidc_client: Any) -> None:
    assert Api(oidc_client, None).get("/api/health").status == 200
