"""Unknown paths answer 404, known paths asked with another method 405 with
Allow, and no answer echoes the Authorization header (issue 9, point 2)."""

from __future__ import annotations

import pytest

from tests.unknown_routes import ID, LATER_PHASE

UNKNOWN = [
    *LATER_PHASE,
    ("GET", "/nothing/here"),
    ("DELETE", "/api/a/b/c/d/e/f/g"),
    ("PATCH", "/api/manifests/not-an-id"),
]


@pytest.mark.parametrize(("method", "path"), UNKNOWN)
def test_an_unknown_route_is_a_404_that_does_not_echo_the_token(alice, method, path):
    r = alice.call(method, path)
    assert r.status == 404, r.text
    assert r.json == {"detail": "Not Found"}
    assert r.headers["content-type"] == "application/json"
    assert alice.token not in r.text
    assert "Bearer" not in r.text


def test_an_unknown_route_is_a_404_without_a_token_too(anonymous):
    r = anonymous.get("/api/metrics")
    assert (r.status, r.json) == (404, {"detail": "Not Found"})


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("POST", f"/api/manifests/{ID}", "DELETE, GET, OPTIONS, PUT"),
        ("PATCH", f"/api/manifests/{ID}", "DELETE, GET, OPTIONS, PUT"),
        ("DELETE", "/api/manifests", "GET, OPTIONS, POST"),
        ("GET", f"/api/manifests/{ID}/duplicate", "OPTIONS, POST"),
        ("POST", "/api/health", "GET, OPTIONS"),
        ("PATCH", f"/api/manifests/{ID}/assets/{ID}", "DELETE, GET, OPTIONS, PUT"),
    ],
)
def test_a_known_path_with_another_method_is_a_405_with_allow(alice, method, path, allow):
    r = alice.call(method, path)
    assert r.status == 405, r.text
    assert r.headers["allow"] == allow
    assert r.json["detail"].startswith("Method Not Allowed: ")
    assert alice.token not in r.text


def test_a_405_names_what_the_path_serves(alice):
    r = alice.call("POST", f"/api/manifests/{ID}")
    assert r.json == {"detail": "Method Not Allowed: /api/manifests/{manifest_id} serves DELETE, GET, PUT"}


def test_known_routes_still_answer(alice):
    mid = alice.manifest()["manifest_id"]
    assert alice.get(f"/api/manifests/{mid}").status == 200
    assert alice.get(f"/api/manifests/{mid}/projects").status == 200


def test_the_new_routes_stay_out_of_the_openapi_document(anonymous):
    paths = anonymous.get("/api/openapi.json").json["paths"]
    assert not [p for p in paths if "{p1}" in p]
    assert "patch" not in paths["/api/manifests/{manifest_id}"]


def test_a_preflight_to_an_unknown_route_is_a_404(alice):
    r = alice.call("OPTIONS", "/api/metrics", headers={"Origin": "http://localhost:5173"})
    assert (r.status, r.json) == (404, {"detail": "Not Found"})
