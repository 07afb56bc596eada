"""The real local server (`chalice local`) driven over HTTP: the main flow, and
concurrent requests that must each see only their own request data."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest
import requests

from tests.e2e.conftest import all_at_once

pytestmark = pytest.mark.e2e


def test_health_answers_ok_without_a_token(local_server):
    r = requests.get(f"{local_server}/api/health", timeout=10)
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


def test_a_request_without_a_token_is_refused_with_401(local_server):
    r = requests.get(f"{local_server}/api/manifests", timeout=10)
    assert r.status_code == 401
    assert "detail" in r.json()


def test_the_main_flow_works_end_to_end_over_http(http_user):
    user = http_user()

    # create a manifest
    r = user.post("/api/manifests", {"name": "Noir cast", "category": "CHARACTERS", "tags": ["noir"]})
    assert r.status_code == 201, r.text
    manifest = r.json()
    mid = manifest["manifest_id"]
    assert (manifest["status"], manifest["version"], manifest["asset_count"]) == ("DRAFT", 1, 0)

    # add assets: tags follow the per-type counters
    hero = user.asset(mid, name="Detective", asset_type="CHARACTER")
    sidekick = user.asset(mid, name="Partner", asset_type="CHARACTER")
    car = user.asset(mid, name="Coupe", asset_type="VEHICLE", user_tags=["1940s"])
    assert [hero["manifest_tag"], sidekick["manifest_tag"], car["manifest_tag"]] == [
        "CHAR_01",
        "CHAR_02",
        "VEH_01",
    ]
    assert car["user_tags"] == ["1940s"]

    # a few more manifests so the listing needs several pages
    others = [user.manifest(name=f"Extra {i}")["manifest_id"] for i in range(4)]

    # list with pagination: follow X-Next-Cursor until it stops
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        r = user.get("/api/manifests", params=params)
        assert r.status_code == 200, r.text
        pages += 1
        seen += [m["manifest_id"] for m in r.json()]
        cursor = r.headers.get("X-Next-Cursor")
        if not cursor:
            assert "Link" not in r.headers
            break
        link = r.headers["Link"]
        assert link.endswith('rel="next"')
        link_query = parse_qs(urlparse(link[link.index("<") + 1 : link.index(">")]).query)
        assert link_query["cursor"] == [cursor]
        assert pages < 10
    assert pages == 3
    assert sorted(seen) == sorted([mid, *others])
    assert len(seen) == len(set(seen))

    # the detail carries the assets in display order and the count
    r = user.get(f"/api/manifests/{mid}")
    assert r.status_code == 200
    detail = r.json()
    assert detail["asset_count"] == 3
    assert [a["asset_id"] for a in detail["assets"]] == [
        hero["asset_id"],
        sidekick["asset_id"],
        car["asset_id"],
    ]

    # a project referencing the manifest counts as a use
    project = user.project(title="Episode 1", manifest_id=mid)
    assert project["manifest_id"] == mid
    assert project["manifest_version"] == 1
    r = user.get(f"/api/manifests/{mid}")
    assert r.json()["times_used"] == 1
    assert r.json()["last_used_at"] is not None

    # the referenced manifest cannot be deleted
    r = user.delete(f"/api/manifests/{mid}")
    assert r.status_code == 409, r.text
    assert r.json()["project_count"] == 1
    assert r.json()["project_ids"] == [project["project_id"]]
    assert user.get(f"/api/manifests/{mid}").status_code == 200

    # deleting the project releases the reference
    r = user.delete(f"/api/projects/{project['project_id']}")
    assert r.status_code == 200, r.text
    assert r.json() == {"status": "deleted", "project_id": project["project_id"]}
    assert user.get(f"/api/projects/{project['project_id']}").status_code == 404

    # now the manifest goes, and with it its assets
    r = user.delete(f"/api/manifests/{mid}")
    assert r.status_code == 200, r.text
    assert r.json() == {"status": "deleted", "manifest_id": mid}
    assert user.get(f"/api/manifests/{mid}").status_code == 404
    assert user.get(f"/api/assets/{hero['asset_id']}").status_code == 404
    listed = [m["manifest_id"] for m in user.get("/api/manifests").json()]
    assert sorted(listed) == sorted(others)


def test_another_owner_cannot_see_a_manifest_over_http(http_user):
    alice, bob = http_user(), http_user()
    mid = alice.manifest()["manifest_id"]
    assert bob.get(f"/api/manifests/{mid}").status_code == 404
    assert bob.get("/api/manifests").json() == []


def test_malformed_json_gets_a_400_with_detail_not_a_500(http_user):
    user = http_user()
    r = user.post("/api/manifests", data=b"{not json")
    assert r.status_code == 400
    assert "detail" in r.json()


def test_concurrent_requests_each_see_only_their_own_body(http_user):
    """`chalice local` keeps the current request per thread: 16 creates with
    different names, sent at once, must each come back with their own name."""
    users = [http_user() for _ in range(4)]
    requests_ = [(users[i % 4], f"Concurrent {i:02d}", f"desc-{i}") for i in range(16)]

    answers = all_at_once(
        user.call("POST", "/api/manifests", {"name": name, "description": description})
        for user, name, description in requests_
    )

    for (_user, name, description), answer in zip(requests_, answers, strict=True):
        assert not isinstance(answer, Exception), answer
        assert answer.status_code == 201, answer.text
        assert (answer.json()["name"], answer.json()["description"]) == (name, description)
    # and each manifest landed with the owner whose token sent it
    for user in users:
        names = sorted(m["name"] for m in user.get("/api/manifests").json())
        assert names == sorted(name for u, name, _ in requests_ if u is user)
