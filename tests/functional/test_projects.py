"""Projects and the references they hold on manifests."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

import pytest

from tests.conftest import Api
from tests.functional.paging import url, walk

PROJECT_FIELDS = {
    "project_id",
    "title",
    "prompt",
    "manifest_id",
    "manifest_version",
    "created_at",
    "updated_at",
}


def manifest(api: Api, manifest_id: str) -> dict[str, Any]:
    r = api.get(f"/api/manifests/{manifest_id}")
    assert r.status == 200, r.text
    return r.json


def set_version(api: Api, manifest_id: str, version: int) -> None:
    """Bring the working version to `version` as a user does: freeze, then edit
    (versions below it are then frozen)."""
    while manifest(api, manifest_id)["version"] < version:
        assert api.post(f"/api/manifests/{manifest_id}/versions").status in (200, 201)
        assert api.put(f"/api/manifests/{manifest_id}", {"description": "edited"}).status == 200


# --- create ----------------------------------------------------------------------------


def test_a_project_needs_no_manifest(alice):
    r = alice.post("/api/projects", {"title": "Trailer", "prompt": "A chase\nat night"})
    assert r.status == 201, r.text
    body = r.json
    assert set(body) >= PROJECT_FIELDS
    assert (body["title"], body["prompt"]) == ("Trailer", "A chase\nat night")
    assert body["manifest_id"] is None and body["manifest_version"] is None
    uuid.UUID(body["project_id"])
    assert body["created_at"].endswith("Z") and body["created_at"] == body["updated_at"]
    assert alice.get(f"/api/projects/{body['project_id']}").json == body
    empty = alice.post("/api/projects", {})
    assert empty.status == 201 and empty.json["title"] is None


def test_manifest_version_defaults_to_the_manifests_current_version(carol, owner):
    mid = carol.manifest()["manifest_id"]
    assert carol.project(manifest_id=mid)["manifest_version"] == 1
    set_version(carol, mid, 3)
    assert carol.project(manifest_id=mid)["manifest_version"] == 3
    assert carol.project(manifest_id=mid, manifest_version=2)["manifest_version"] == 2


def test_a_version_newer_than_the_manifest_is_refused(carol, owner):
    mid = carol.manifest()["manifest_id"]
    set_version(carol, mid, 2)
    r = carol.post("/api/projects", {"manifest_id": mid, "manifest_version": 3})
    assert r.status == 422, r.text
    assert r.json["errors"][0]["loc"] == ["body", "manifest_version"]
    assert manifest(carol, mid)["times_used"] == 0
    assert carol.get("/api/projects").json == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"manifest_version": 1}, "manifest_version"),  # a version needs a manifest
        ({"manifest_id": "not-a-uuid"}, "manifest_id"),
        ({"manifest_id": str(uuid.uuid4()), "manifest_version": 0}, "manifest_version"),
        ({"title": "x" * 201}, "title"),
        ({"title": ""}, "title"),
        ({"prompt": "x" * 10001}, "prompt"),
        ({"manifest": "typo"}, "manifest"),
    ],
)
def test_invalid_project_bodies_are_refused(alice, body, field):
    r = alice.post("/api/projects", body)
    assert r.status == 422, r.text
    assert ["body", field] in [e["loc"][:2] for e in r.json["errors"]]


def test_a_project_cannot_reference_a_foreign_deleted_or_unknown_manifest(alice, bob):
    foreign = bob.manifest()["manifest_id"]
    deleted = alice.manifest()["manifest_id"]
    assert alice.delete(f"/api/manifests/{deleted}").status == 200
    for mid in (foreign, deleted, str(uuid.uuid4())):
        r = alice.post("/api/projects", {"manifest_id": mid})
        assert r.status == 404, r.text
        assert isinstance(r.json["detail"], str)
    assert manifest(bob, foreign)["times_used"] == 0
    assert alice.get("/api/projects").json == []


# --- references: times_used, last_used_at, delete protection ----------------------------


def test_attaching_on_create_counts_a_use_and_stamps_last_used_at(alice):
    m = alice.manifest()
    mid = m["manifest_id"]
    assert (m["times_used"], m["last_used_at"]) == (0, None)
    first = alice.project(manifest_id=mid)
    after_one = manifest(alice, mid)
    assert after_one["times_used"] == 1
    assert after_one["last_used_at"] >= first["created_at"]
    alice.project(manifest_id=mid)
    after_two = manifest(alice, mid)
    assert after_two["times_used"] == 2
    assert after_two["last_used_at"] > after_one["last_used_at"]


def test_deleting_a_referenced_manifest_is_refused_with_the_projects(alice):
    mid = alice.manifest()["manifest_id"]
    p1 = alice.project(manifest_id=mid)
    p2 = alice.project(manifest_id=mid)
    alice.project()  # unrelated
    r = alice.delete(f"/api/manifests/{mid}")
    assert r.status == 409, r.text
    assert isinstance(r.json["detail"], str)
    assert r.json["project_count"] == 2
    assert sorted(r.json["project_ids"]) == sorted([p1["project_id"], p2["project_id"]])
    assert manifest(alice, mid)["manifest_id"] == mid  # still there

    assert alice.delete(f"/api/projects/{p1['project_id']}").status == 200
    r = alice.delete(f"/api/manifests/{mid}")
    assert r.status == 409
    assert (r.json["project_count"], r.json["project_ids"]) == (1, [p2["project_id"]])

    assert alice.delete(f"/api/projects/{p2['project_id']}").status == 200
    assert alice.delete(f"/api/manifests/{mid}").status == 200
    assert alice.get(f"/api/manifests/{mid}").status == 404


def test_moving_a_project_to_another_manifest_moves_its_reference(alice):
    old = alice.manifest(name="old")["manifest_id"]
    new = alice.manifest(name="new")["manifest_id"]
    p = alice.project(manifest_id=old, title="t")
    before_new = manifest(alice, new)

    r = alice.put(f"/api/projects/{p['project_id']}", {"manifest_id": new})
    assert r.status == 200, r.text
    assert (r.json["manifest_id"], r.json["manifest_version"]) == (new, 1)
    assert r.json["title"] == "t"
    assert r.json["updated_at"] > p["updated_at"]

    moved_to = manifest(alice, new)
    assert moved_to["times_used"] == before_new["times_used"] + 1
    assert moved_to["last_used_at"] is not None and moved_to["last_used_at"] >= p["created_at"]
    assert manifest(alice, old)["times_used"] == 1  # uses are history; they do not go down

    r = alice.delete(f"/api/manifests/{new}")
    assert r.status == 409 and r.json["project_ids"] == [p["project_id"]]
    assert alice.delete(f"/api/manifests/{old}").status == 200


def test_clearing_the_manifest_releases_the_reference(alice):
    mid = alice.manifest()["manifest_id"]
    p = alice.project(manifest_id=mid)
    r = alice.put(f"/api/projects/{p['project_id']}", {"manifest_id": None})
    assert r.status == 200, r.text
    assert r.json["manifest_id"] is None and r.json["manifest_version"] is None
    assert alice.get(f"/api/manifests/{mid}/projects").json == []
    assert alice.delete(f"/api/manifests/{mid}").status == 200


def test_edits_that_keep_the_manifest_do_not_count_a_use(carol, owner):
    mid = carol.manifest()["manifest_id"]
    set_version(carol, mid, 2)
    p = carol.project(manifest_id=mid)
    assert p["manifest_version"] == 2
    used = manifest(carol, mid)
    path = f"/api/projects/{p['project_id']}"
    assert carol.put(path, {"title": "renamed"}).json["manifest_version"] == 2
    assert carol.put(path, {"manifest_id": mid}).json["manifest_version"] == 2
    r = carol.put(path, {"manifest_version": 1})
    assert r.status == 200 and r.json["manifest_version"] == 1
    after = manifest(carol, mid)
    assert (after["times_used"], after["last_used_at"]) == (used["times_used"], used["last_used_at"])
    # the reference is still exactly one: one delete of the project frees the manifest
    assert carol.delete(f"/api/manifests/{mid}").json["project_count"] == 1
    assert carol.delete(path).status == 200
    assert carol.delete(f"/api/manifests/{mid}").status == 200


def test_changing_the_manifest_resets_the_version_to_the_new_manifests(carol, owner):
    first = carol.manifest()["manifest_id"]
    second = carol.manifest()["manifest_id"]
    set_version(carol, first, 4)
    set_version(carol, second, 2)
    p = carol.project(manifest_id=first)
    assert p["manifest_version"] == 4
    r = carol.put(f"/api/projects/{p['project_id']}", {"manifest_id": second})
    assert r.status == 200 and r.json["manifest_version"] == 2
    r = carol.put(f"/api/projects/{p['project_id']}", {"manifest_id": first, "manifest_version": 3})
    assert r.status == 200 and (r.json["manifest_id"], r.json["manifest_version"]) == (first, 3)


def test_project_updates_that_cannot_hold_change_nothing(bob, carol):
    mid = carol.manifest()["manifest_id"]
    p = carol.project(manifest_id=mid, title="keep")
    path = f"/api/projects/{p['project_id']}"
    foreign = bob.manifest()["manifest_id"]
    deleted = carol.manifest()["manifest_id"]
    carol.delete(f"/api/manifests/{deleted}")
    for body, status in (
        ({"manifest_version": 2}, 422),  # newer than the manifest
        ({"manifest_id": foreign}, 404),
        ({"manifest_id": deleted}, 404),
        ({"manifest_id": str(uuid.uuid4())}, 404),
        ({"manifest_id": None, "manifest_version": 1}, 422),
        ({"title": None, "colour": "red"}, 422),
    ):
        r = carol.put(path, body)
        assert r.status == status, (body, r.text)
    assert carol.get(path).json == p
    assert manifest(bob, foreign)["times_used"] == 0
    assert carol.delete(f"/api/manifests/{mid}").status == 409


def test_a_version_needs_a_manifest_on_update_too(alice):
    p = alice.project(title="loose")
    r = alice.put(f"/api/projects/{p['project_id']}", {"manifest_version": 1})
    assert r.status == 422
    assert r.json["errors"][0]["loc"] == ["body", "manifest_version"]


def test_a_project_without_a_manifest_can_attach_later(alice):
    mid = alice.manifest()["manifest_id"]
    p = alice.project(title="later")
    r = alice.put(f"/api/projects/{p['project_id']}", {"manifest_id": mid})
    assert r.status == 200 and r.json["manifest_version"] == 1
    assert manifest(alice, mid)["times_used"] == 1
    assert alice.delete(f"/api/manifests/{mid}").status == 409


def test_deleting_a_project_twice_releases_one_reference_only(alice):
    mid = alice.manifest()["manifest_id"]
    p1 = alice.project(manifest_id=mid)
    alice.project(manifest_id=mid)
    r = alice.delete(f"/api/projects/{p1['project_id']}")
    assert r.status == 200
    assert r.json == {"status": "deleted", "project_id": p1["project_id"]}
    assert alice.delete(f"/api/projects/{p1['project_id']}").status == 404
    assert alice.get(f"/api/projects/{p1['project_id']}").status == 404
    r = alice.delete(f"/api/manifests/{mid}")
    assert r.status == 409 and r.json["project_count"] == 1


def test_another_owners_project_answers_404(alice, bob):
    p = alice.project(title="mine")
    path = f"/api/projects/{p['project_id']}"
    assert bob.get(path).status == 404
    assert bob.put(path, {"title": "stolen"}).status == 404
    assert bob.delete(path).status == 404
    assert bob.get("/api/projects").json == []
    assert alice.get(path).json == p


# --- lists ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sort_by", "sort_order"), list(itertools.product(("updated_at", "created_at"), ("asc", "desc")))
)
def test_walking_the_project_list_yields_every_project_once_in_order(make_user, bob, sort_by, sort_order):
    api = make_user()
    made = [api.project(title=f"p{i}")["project_id"] for i in range(5)]
    # touch the oldest so updated_at order differs from created_at order
    api.put(f"/api/projects/{made[0]}", {"title": "touched"})
    bob.project(title="not yours")
    items, pages = walk(api, "/api/projects", sort_by=sort_by, sort_order=sort_order, limit=2)
    ids = [p["project_id"] for p in items]
    assert sorted(ids) == sorted(made) and len(ids) == 5
    assert pages == 3
    keys = [(p[sort_by], p["project_id"]) for p in items]
    assert keys == sorted(keys, reverse=sort_order == "desc")
    if sort_by == "updated_at" and sort_order == "desc":
        assert ids[0] == made[0]
    if sort_by == "created_at" and sort_order == "asc":
        assert ids == made


@pytest.mark.parametrize(
    "query",
    ["sort_by=name", "sort_order=sideways", "limit=0", "limit=201", "category=CUSTOM", "cursor=abc"],
)
def test_the_project_list_refuses_bad_parameters(alice, query):
    r = alice.get(f"/api/projects?{query}")
    assert r.status in (400, 422), r.text
    assert r.status == (400 if query.startswith("cursor") else 422)
    assert isinstance(r.json["detail"], str)


def test_a_project_cursor_is_bound_to_its_owner_and_query(alice, bob):
    for _ in range(3):
        alice.project()
        bob.project()
    cursor = alice.get("/api/projects?limit=1").headers["x-next-cursor"]
    assert alice.get(url("/api/projects", limit=1, cursor=cursor)).status == 200
    assert bob.get(url("/api/projects", limit=1, cursor=cursor)).status == 400
    assert alice.get(url("/api/projects", limit=1, cursor=cursor, sort_by="created_at")).status == 400


def test_a_manifest_lists_exactly_the_projects_that_reference_it(alice, bob):
    mid = alice.manifest()["manifest_id"]
    other = alice.manifest()["manifest_id"]
    refs = [alice.project(manifest_id=mid)["project_id"] for _ in range(5)]
    alice.project(manifest_id=other)
    alice.project()
    items, pages = walk(alice, f"/api/manifests/{mid}/projects", limit=2)
    assert sorted(p["project_id"] for p in items) == sorted(refs)
    assert len(items) == 5 and pages == 3
    assert all(p["manifest_id"] == mid for p in items)

    alice.delete(f"/api/projects/{refs[0]}")
    alice.put(f"/api/projects/{refs[1]}", {"manifest_id": other})
    alice.put(f"/api/projects/{refs[2]}", {"manifest_id": None})
    left = alice.get(f"/api/manifests/{mid}/projects").json
    assert sorted(p["project_id"] for p in left) == sorted(refs[3:])
    assert bob.get(f"/api/manifests/{mid}/projects").status == 404
    assert alice.get(f"/api/manifests/{uuid.uuid4()}/projects").status == 404
    assert alice.get(f"/api/manifests/{mid}/projects?limit=0").status == 422
    assert alice.get(f"/api/manifests/{mid}/projects?sort_by=name").status == 422
