"""Bad input gets the documented 4xx with a JSON `detail`; nothing answers 500."""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

import jwt
import pytest

from tests.conftest import Api, token_for

BODY_ROUTES = [
    ("POST", "/api/manifests"),
    ("PUT", "/api/manifests/{mid}"),
    ("POST", "/api/manifests/{mid}/assets"),
    ("PUT", "/api/assets/{aid}"),
    ("PUT", "/api/manifests/{mid}/assets/{aid}"),
    ("POST", "/api/projects"),
    ("PUT", "/api/projects/{pid}"),
]


@pytest.fixture(scope="module")
def user(chalice_client: Any, jwt_secret: str) -> Api:
    """One user for the refusal tests below; a refused request must not change anything."""
    return Api(chalice_client, token_for(f"user-{uuid.uuid4()}", jwt_secret))


@pytest.fixture(scope="module")
def ids(user: Api) -> dict[str, str]:
    mid = user.manifest()["manifest_id"]
    return {
        "mid": mid,
        "aid": user.asset(mid)["asset_id"],
        "pid": user.project()["project_id"],
    }


def fresh_ids(api: Api) -> dict[str, str]:
    mid = api.manifest()["manifest_id"]
    return {"mid": mid, "aid": api.asset(mid)["asset_id"], "pid": api.project()["project_id"]}


def assert_error(r: Any, status: int) -> dict[str, Any]:
    assert r.status == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json
    assert isinstance(body, dict) and isinstance(body["detail"], str) and body["detail"]
    assert "Traceback" not in r.text
    return body


# --- bodies ----------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), BODY_ROUTES)
def test_malformed_json_is_a_400(user, ids, method, path):
    for raw in (b"{", b'{"name": }', b"{'name': 'x'}", b"\xff\xfe", b"nul"):
        assert_error(user.call(method, path.format(**ids), raw=raw), 400)


@pytest.mark.parametrize(("method", "path"), BODY_ROUTES)
def test_json_that_is_not_an_object_is_a_422(user, ids, method, path):
    for raw in (b"[]", b'["name"]', b'"name"', b"42", b"null", b"true"):
        body = assert_error(user.call(method, path.format(**ids), raw=raw), 422)
        assert body["errors"][0]["loc"] == ["body"]


@pytest.mark.parametrize(("method", "path"), BODY_ROUTES)
def test_an_unknown_field_is_a_422_naming_the_field(user, ids, method, path):
    valid = {
        "/api/manifests": {"name": "x"},
        "/api/manifests/{mid}/assets": {"name": "x", "asset_type": "PROP"},
    }.get(path, {})
    r = user.call(method, path.format(**ids), {**valid, "nmae": "typo"})
    body = assert_error(r, 422)
    assert ["body", "nmae"] in [e["loc"] for e in body["errors"]]
    assert all(set(e) >= {"loc", "msg", "type"} for e in body["errors"])


@pytest.mark.parametrize(("method", "path"), BODY_ROUTES)
def test_a_body_that_is_not_json_is_a_415(user, ids, method, path):
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
        r = user.call(
            method, path.format(**ids), raw=b'{"name": "x"}', headers={"Content-Type": content_type}
        )
        assert_error(r, 415)
    # a body without any Content-Type is not JSON either
    r = user.call(method, path.format(**ids), raw=b'{"name": "x"}', headers={"Content-Type": ""})
    assert_error(r, 415)


def test_json_with_a_charset_parameter_is_accepted(alice):
    r = alice.call(
        "POST", "/api/manifests", {"name": "x"}, headers={"Content-Type": "application/json; charset=utf-8"}
    )
    assert r.status == 201, r.text


@pytest.mark.parametrize(("method", "path"), BODY_ROUTES)
def test_a_body_over_the_size_limit_is_a_413(user, ids, method, path):
    from local_backend import stage_environment

    limit = int(stage_environment("local")["MAX_JSON_BODY_BYTES"])
    raw = json.dumps({"description": "x" * limit}).encode()
    assert_error(user.call(method, path.format(**ids), raw=raw), 413)
    # just under the limit is read (and then judged on its values, not its size)
    under = json.dumps({"description": "x" * (limit - 100)}).encode()
    assert len(under) <= limit
    assert user.call(method, path.format(**ids), raw=under).status == 422


def test_nothing_was_written_by_refused_bodies(alice):
    ids = fresh_ids(alice)
    before = alice.get(f"/api/manifests/{ids['mid']}").json
    alice.call("PUT", f"/api/manifests/{ids['mid']}", raw=b"{")
    alice.call("PUT", f"/api/manifests/{ids['mid']}", {"name": "new", "bogus": 1})
    alice.call("PUT", f"/api/manifests/{ids['mid']}", {"name": "new", "tags": ["t"] * 21})
    assert alice.get(f"/api/manifests/{ids['mid']}").json == before
    assert len(alice.get("/api/manifests").json) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x" * 201}, "name"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "a\nb"}, "name"),
        ({"name": "a\x00b"}, "name"),
        ({"name": 5}, "name"),
        ({}, "name"),
        ({"name": "x", "description": "d" * 2001}, "description"),
        ({"name": "x", "tags": ["t"] * 21}, "tags"),
        ({"name": "x", "tags": ["t" * 51]}, "tags"),
        ({"name": "x", "tags": [""]}, "tags"),
        ({"name": "x", "tags": "noir"}, "tags"),
        ({"name": "x", "category": "MOVIES"}, "category"),
        ({"name": "x", "category": None}, "category"),
        ({"name": "x", "status": "READY"}, "status"),
        ({"name": "x", "manifest_id": str(uuid.uuid4())}, "manifest_id"),
    ],
)
def test_invalid_manifest_values_are_a_422_naming_the_field(alice, body, field):
    r = alice.post("/api/manifests", body)
    errors = assert_error(r, 422)["errors"]
    assert ["body", field] in [e["loc"][:2] for e in errors], errors


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"asset_type": "PROP"}, "name"),
        ({"name": "x"}, "asset_type"),
        ({"name": "x", "asset_type": "prop"}, "asset_type"),
        ({"name": "x", "asset_type": "PROP", "user_tags": ["u"] * 21}, "user_tags"),
        ({"name": "x", "asset_type": "PROP", "description": "d" * 2001}, "description"),
        ({"name": "x", "asset_type": "PROP", "manifest_tag": "PROP_01"}, "manifest_tag"),
        ({"name": "x", "asset_type": "PROP", "sort_order": 1}, "sort_order"),
    ],
)
def test_invalid_asset_values_are_a_422_naming_the_field(user, ids, body, field):
    r = user.post(f"/api/manifests/{ids['mid']}/assets", body)
    errors = assert_error(r, 422)["errors"]
    assert ["body", field] in [e["loc"][:2] for e in errors], errors
    assert user.get(f"/api/manifests/{ids['mid']}").json["asset_count"] == 1


def test_limits_are_inclusive(alice):
    r = alice.post(
        "/api/manifests",
        {"name": "n" * 200, "description": "d" * 2000, "tags": ["t" * 50] * 20},
    )
    assert r.status == 201, r.text
    assert len(r.json["tags"]) == 20


def test_validation_errors_do_not_echo_the_input(alice):
    secret = "s3cr3t-" + "x" * 300
    r = alice.post("/api/manifests", {"name": secret})
    assert_error(r, 422)
    assert secret not in r.text


# --- tokens ----------------------------------------------------------------------------


def _tokens(jwt_secret: str, sub: str = "alice") -> dict[str, str | None]:
    now = int(time.time())
    return {
        "missing": None,
        "empty": "",
        "garbage": "not.a.jwt",
        "wrong secret": token_for("mallory", "another-secret-entirely-32-bytes!"),
        "expired": jwt.encode({"sub": sub, "iat": now - 7200, "exp": now - 3600}, jwt_secret),
        "no exp": jwt.encode({"sub": sub, "iat": now}, jwt_secret),
        "no sub": jwt.encode({"iat": now, "exp": now + 600}, jwt_secret),
        "empty sub": jwt.encode({"sub": "", "exp": now + 600}, jwt_secret),
        "alg none": jwt.encode({"sub": sub, "exp": now + 600}, None, algorithm="none"),
    }


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/manifests"),
        ("POST", "/api/manifests"),
        ("GET", "/api/manifests/{mid}"),
        ("DELETE", "/api/manifests/{mid}"),
        ("GET", "/api/assets/{aid}"),
        ("POST", "/api/projects"),
        ("GET", "/api/projects"),
    ],
)
def test_requests_without_a_valid_token_are_a_401(chalice_client, jwt_secret, ids, method, path):
    for label, token in _tokens(jwt_secret).items():
        api = Api(chalice_client, token)
        r = api.call(method, path.format(**ids), {"name": "x"} if method == "POST" else None)
        assert_error(r, 401)
        assert r.headers.get("www-authenticate", "").startswith("Bearer"), label


def test_the_scheme_must_be_bearer(chalice_client, jwt_secret):
    token = token_for(f"user-{uuid.uuid4()}", jwt_secret)
    api = Api(chalice_client, None)
    for header in (f"Basic {token}", token, f"Bearer{token}", "Bearer "):
        assert_error(api.get("/api/manifests", headers={"Authorization": header}), 401)
    assert api.get("/api/manifests", headers={"Authorization": f"bearer {token}"}).status == 200


def test_a_refused_token_writes_nothing(chalice_client, jwt_secret):
    sub = f"user-{uuid.uuid4()}"
    for label, token in _tokens(jwt_secret, sub).items():
        assert Api(chalice_client, token).post("/api/manifests", {"name": label}).status == 401
    assert Api(chalice_client, token_for(sub, jwt_secret)).get("/api/manifests").json == []


# --- no 500 anywhere -------------------------------------------------------------------


def _all_routes() -> list[tuple[str, str]]:
    from app import app

    return [(path, method) for path, methods in app.routes.items() for method in methods]


def test_every_route_answers_garbage_with_a_json_4xx(alice):
    mine = fresh_ids(alice)
    real = {"manifest_id": mine["mid"], "asset_id": mine["aid"], "project_id": mine["pid"]}
    hostile = {"manifest_id": "..%2F..", "asset_id": "%00", "project_id": "x" * 300}
    bodies: list[dict[str, Any]] = [
        {"raw": b"\x00\xff"},
        {"raw": b"[" * 5000},
        {"raw": b'{"name": "' + b"\\ud800" + b'"}'},
        {"raw": json.dumps({"name": {"$gt": ""}, "asset_type": ["PROP"]}).encode()},
        {"raw": b'{"name": "x"}', "headers": {"Content-Type": "application/xml"}},
        {"raw": json.dumps({"name": "x" * 10_000}).encode()},
    ]
    checked = 0
    for path, method in _all_routes():
        for values in (real, hostile):
            target = re.sub(r"{(\w+)}", lambda m, v=values: v.get(m.group(1), str(uuid.uuid4())), path)
            for extra in bodies:
                r = alice.call(method, target + "?limit=-1&cursor=%FF", **extra)
                assert r.status < 500, (method, target, extra, r.text)
                if r.status >= 400:
                    assert_error(r, r.status)
                checked += 1
    assert checked >= 2 * len(bodies) * 20


def test_a_wrong_method_is_a_json_405(alice):
    r = alice.call("PATCH", "/api/manifests", {"name": "x"})
    assert_error(r, 405)
    assert {"GET", "POST"} <= set(r.headers["allow"].split(", "))


def test_an_unpaired_surrogate_in_a_value_is_refused_not_crashed(alice):
    r = alice.call("POST", "/api/manifests", raw=b'{"name": "a\\ud800b"}')
    assert 400 <= r.status < 500, r.text
    assert_error(r, r.status)
    assert alice.get("/api/manifests").json == []
