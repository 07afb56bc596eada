"""Safe concurrent edits (ETag / If-Match) and idempotent retries (Idempotency-Key)."""

from __future__ import annotations

import json

import pytest


def test_reads_and_writes_carry_a_strong_etag_from_the_revision(alice):
    m = alice.manifest()
    r = alice.get(f"/api/manifests/{m['manifest_id']}")
    assert r.headers["etag"] == '"1"'
    r = alice.put(f"/api/manifests/{m['manifest_id']}", {"name": "x"})
    assert r.headers["etag"] == '"2"'
    assert r.json["revision"] == 2


def test_two_editors_with_the_same_etag_exactly_one_wins(alice):
    mid = alice.manifest()["manifest_id"]
    seen = alice.get(f"/api/manifests/{mid}").headers["etag"]
    first = alice.put(f"/api/manifests/{mid}", {"name": "tab one"}, headers={"If-Match": seen})
    second = alice.put(f"/api/manifests/{mid}", {"name": "tab two"}, headers={"If-Match": seen})
    assert first.status == 200
    assert second.status == 412
    assert second.headers["etag"] == first.headers["etag"]
    assert second.json["etag"] == first.headers["etag"]
    assert alice.get(f"/api/manifests/{mid}").json["name"] == "tab one"


@pytest.mark.parametrize("kind", ["manifest", "asset", "project"])
def test_a_stale_etag_refuses_put_and_delete_and_writes_nothing(alice, kind):
    if kind == "manifest":
        path = f"/api/manifests/{alice.manifest()['manifest_id']}"
        change = {"name": "changed"}
    elif kind == "asset":
        path = f"/api/assets/{alice.asset(alice.manifest()['manifest_id'])['asset_id']}"
        change = {"name": "changed"}
    else:
        path = f"/api/projects/{alice.project(title='t')['project_id']}"
        change = {"title": "changed"}
    stale = alice.get(path).headers["etag"]
    assert alice.put(path, change, headers={"If-Match": stale}).status == 200
    before = alice.get(path).json
    assert (
        alice.put(path, {**change, **{k: "again" for k in change}}, headers={"If-Match": stale}).status == 412
    )
    assert alice.delete(path, headers={"If-Match": stale}).status == 412
    assert alice.get(path).json == before
    current = alice.get(path).headers["etag"]
    assert alice.delete(path, headers={"If-Match": current}).status == 200


def test_without_if_match_writes_proceed(alice):
    mid = alice.manifest()["manifest_id"]
    assert alice.put(f"/api/manifests/{mid}", {"name": "a"}).status == 200
    assert alice.put(f"/api/manifests/{mid}", {"name": "b"}, headers={"If-Match": "*"}).status == 200


@pytest.mark.parametrize("header", ['W/"1"', "1", '"abc"', '"1", "2"'])
def test_malformed_or_weak_if_match_is_refused(alice, header):
    mid = alice.manifest()["manifest_id"]
    r = alice.put(f"/api/manifests/{mid}", {"name": "a"}, headers={"If-Match": header})
    assert r.status in (400, 412)
    assert alice.get(f"/api/manifests/{mid}").json["name"] == "Kit"


def test_a_retried_create_with_the_same_key_returns_the_first_answer(alice):
    headers = {"Idempotency-Key": "create-kit-1"}
    first = alice.post("/api/manifests", {"name": "Once"}, headers=headers)
    again = alice.post("/api/manifests", {"name": "Once"}, headers=headers)
    assert first.status == again.status == 201
    assert again.json == first.json
    names = [m["name"] for m in alice.get("/api/manifests").json]
    assert names.count("Once") == 1


def test_the_same_key_with_another_body_is_refused(alice):
    headers = {"Idempotency-Key": "create-kit-2"}
    assert alice.post("/api/manifests", {"name": "A"}, headers=headers).status == 201
    r = alice.post("/api/manifests", {"name": "B"}, headers=headers)
    assert r.status == 422
    assert r.json["errors"][0]["loc"] == ["header", "Idempotency-Key"]


def test_keys_are_per_owner(alice, bob):
    headers = {"Idempotency-Key": "shared-key"}
    a = alice.post("/api/manifests", {"name": "Same"}, headers=headers).json
    b = bob.post("/api/manifests", {"name": "Same"}, headers=headers).json
    assert a["manifest_id"] != b["manifest_id"]
    assert bob.get(f"/api/manifests/{b['manifest_id']}").status == 200


@pytest.mark.parametrize("route", ["assets", "projects", "duplicate", "upload-url"])
def test_every_creating_route_honours_the_key(alice, route):
    mid = alice.manifest()["manifest_id"]
    asset = alice.asset(mid)
    path, body = {
        "assets": (f"/api/manifests/{mid}/assets", {"name": "x", "asset_type": "PROP"}),
        "projects": ("/api/projects", {"title": "p", "manifest_id": mid}),
        "duplicate": (f"/api/manifests/{mid}/duplicate", None),
        "upload-url": (
            f"/api/assets/{asset['asset_id']}/upload-url",
            {"content_type": "image/png", "size": 9},
        ),
    }[route]
    headers = {"Idempotency-Key": f"k-{route}"}
    first = alice.post(path, body, headers=headers)
    second = alice.post(path, body, headers=headers)
    assert first.status == 201, first
    assert json.dumps(second.json, sort_keys=True) == json.dumps(first.json, sort_keys=True)
    detail = alice.get(f"/api/manifests/{mid}").json
    if route == "assets":
        assert detail["asset_count"] == 2
    if route == "projects":
        assert detail["times_used"] == 1


def test_a_failed_create_is_not_remembered(alice):
    headers = {"Idempotency-Key": "k-fail"}
    assert alice.post("/api/manifests", {"name": ""}, headers=headers).status == 422
    assert alice.post("/api/manifests", {"name": "ok"}, headers=headers).status == 201


@pytest.mark.parametrize("key", ["", " ", "x" * 256, "caf\u00e9"])
def test_unusable_keys_are_refused(alice, key):
    r = alice.post("/api/manifests", {"name": "a"}, headers={"Idempotency-Key": key})
    assert r.status == 422
