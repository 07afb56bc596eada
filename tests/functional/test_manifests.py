"""Manifest lifecycle through the app against moto over HTTP."""

from __future__ import annotations

import uuid

LIST_FIELDS = {
    "manifest_id",
    "name",
    "description",
    "thumbnail_url",
    "category",
    "tags",
    "status",
    "asset_count",
    "times_used",
    "last_used_at",
    "version",
    "created_at",
    "updated_at",
}
DETAIL_FIELDS = LIST_FIELDS | {
    "processing_progress",
    "contact_sheet_url",
    "total_processing_cost",
    "parent_manifest_id",
    "assets",
    "source_video_duration",
}


def test_creating_a_manifest_returns_a_draft_at_version_one(alice):
    r = alice.post("/api/manifests", {"name": "Cast", "category": "CHARACTERS", "tags": ["noir"]})
    assert r.status == 201
    body = r.json
    assert set(body) >= LIST_FIELDS
    assert body["status"] == "DRAFT"
    assert body["version"] == 1
    assert body["category"] == "CHARACTERS"
    assert body["tags"] == ["noir"]
    assert body["asset_count"] == 0
    assert body["created_at"].endswith("Z")
    uuid.UUID(body["manifest_id"])


def test_category_defaults_to_custom(alice):
    assert alice.manifest()["category"] == "CUSTOM"


def test_detail_carries_every_contract_field(alice):
    m = alice.manifest()
    r = alice.get(f"/api/manifests/{m['manifest_id']}")
    assert r.status == 200
    assert set(r.json) >= DETAIL_FIELDS
    assert r.json["source_video_duration"] is None
    assert r.json["assets"] == []


def test_update_changes_fields_and_bumps_updated_at(alice):
    m = alice.manifest()
    r = alice.put(f"/api/manifests/{m['manifest_id']}", {"name": "Renamed", "description": "d"})
    assert r.status == 200
    assert r.json["name"] == "Renamed"
    assert r.json["description"] == "d"
    assert r.json["updated_at"] > m["updated_at"]
    assert r.json["created_at"] == m["created_at"]


def test_update_may_clear_description_but_not_name(alice):
    m = alice.manifest(description="x")
    r = alice.put(f"/api/manifests/{m['manifest_id']}", {"description": None})
    assert r.status == 200 and r.json["description"] is None
    r = alice.put(f"/api/manifests/{m['manifest_id']}", {"name": None})
    assert r.status == 422
    assert r.json["errors"][0]["loc"] == ["body", "name"]


def test_deleted_manifest_is_gone_for_every_route(alice):
    m = alice.manifest()
    mid = m["manifest_id"]
    asset = alice.asset(mid)
    r = alice.delete(f"/api/manifests/{mid}")
    assert r.status == 200
    assert r.json == {"status": "deleted", "manifest_id": mid}
    assert alice.get(f"/api/manifests/{mid}").status == 404
    assert alice.put(f"/api/manifests/{mid}", {"name": "x"}).status == 404
    assert alice.delete(f"/api/manifests/{mid}").status == 404
    assert alice.get(f"/api/manifests/{mid}/assets").status == 404
    assert alice.post(f"/api/manifests/{mid}/assets", {"name": "a", "asset_type": "PROP"}).status == 404
    assert alice.get(f"/api/assets/{asset['asset_id']}").status == 404
    assert alice.put(f"/api/assets/{asset['asset_id']}", {"name": "x"}).status == 404
    assert alice.delete(f"/api/assets/{asset['asset_id']}").status == 404
    assert alice.get(f"/api/manifests/{mid}/assets/{asset['asset_id']}").status == 404
    assert alice.post(f"/api/manifests/{mid}/duplicate").status == 404
    assert alice.get(f"/api/manifests/{mid}/projects").status == 404
    assert alice.post("/api/projects", {"manifest_id": mid}).status == 404
    ids = [x["manifest_id"] for x in alice.get("/api/manifests").json]
    assert mid not in ids


def test_another_owners_manifest_answers_404_everywhere(alice, bob):
    m = alice.manifest()
    mid = m["manifest_id"]
    asset = alice.asset(mid)
    assert bob.get(f"/api/manifests/{mid}").status == 404
    assert bob.put(f"/api/manifests/{mid}", {"name": "mine"}).status == 404
    assert bob.delete(f"/api/manifests/{mid}").status == 404
    assert bob.post(f"/api/manifests/{mid}/duplicate").status == 404
    assert bob.post(f"/api/manifests/{mid}/assets", {"name": "a", "asset_type": "PROP"}).status == 404
    assert bob.get(f"/api/assets/{asset['asset_id']}").status == 404
    assert bob.put(f"/api/assets/{asset['asset_id']}", {"name": "x"}).status == 404
    assert bob.delete(f"/api/assets/{asset['asset_id']}").status == 404
    assert bob.post("/api/projects", {"manifest_id": mid}).status == 404
    assert bob.get("/api/manifests").json == []
    after = alice.get(f"/api/manifests/{mid}").json
    assert after["name"] == "Kit" and after["asset_count"] == 1


def test_unknown_and_malformed_ids_answer_404(alice):
    assert alice.get(f"/api/manifests/{uuid.uuid4()}").status == 404
    assert alice.get("/api/manifests/not-a-uuid").status == 404
    assert alice.get("/api/assets/" + "x" * 3000).status == 404
