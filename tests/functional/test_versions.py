"""Manifest versions: freeze, history, frozen reads, diff, restore, pins and the
pinned read, through the real app against moto over HTTP."""

from __future__ import annotations

import uuid

import pytest

from chalicelib.models import AssetModel, ImageRefModel, VersionModel
from chalicelib.storage import storage
from tests.functional.test_uploads import upload
from tests.imagefactory import image_bytes

# What a frozen version promises not to change: everything but signed URLs.
URL_FIELDS = ("thumbnail_url", "reference_image_url", "contact_sheet_url")


def frozen_view(detail: dict) -> dict:
    """A ManifestDetail without its signed URLs (minted per read), URLs reduced to their object path."""

    def strip(d: dict) -> dict:
        return {k: (v.split("?")[0] if k in URL_FIELDS and v else v) for k, v in d.items()}

    out = strip({k: v for k, v in detail.items() if k != "assets"})
    out["assets"] = [strip(a) for a in detail["assets"]]
    return out


def freeze(api, manifest_id, expect=201):
    r = api.post(f"/api/manifests/{manifest_id}/versions")
    assert r.status == expect, r
    return r.json


def png():
    return image_bytes("image/png", (40, 30))


@pytest.fixture
def kit(alice):
    """A manifest with two assets, one with an image."""
    m = alice.manifest(name="Kit v1", description="first", tags=["a"])
    hero = alice.asset(m["manifest_id"], name="Hero", description="brave")
    car = alice.asset(m["manifest_id"], name="Car", asset_type="VEHICLE")
    upload(alice, hero["asset_id"], png())
    return {"manifest_id": m["manifest_id"], "hero": hero["asset_id"], "car": car["asset_id"]}


# --- freeze and history ---------------------------------------------------------------------


def test_freezing_answers_201_and_then_200_with_the_same_summary_until_something_changes(alice, kit):
    mid = kit["manifest_id"]
    first = freeze(alice, mid, 201)
    assert first == {
        "manifest_id": mid,
        "version": 1,
        "name": "Kit v1",
        "asset_count": 2,
        "created_at": first["created_at"],
        "pinned_by": 0,
    }
    assert freeze(alice, mid, 200) == first
    assert alice.get(f"/api/manifests/{mid}").json["version"] == 1


def test_the_first_change_after_a_freeze_starts_the_next_version_and_later_ones_do_not(alice, kit):
    mid = kit["manifest_id"]
    freeze(alice, mid)
    assert alice.put(f"/api/manifests/{mid}", {"name": "Kit v2"}).json["version"] == 2
    assert alice.put(f"/api/manifests/{mid}", {"name": "Kit v2b"}).json["version"] == 2
    alice.asset(mid, name="Extra")
    assert alice.get(f"/api/manifests/{mid}").json["version"] == 2
    assert freeze(alice, mid, 201)["version"] == 2


def test_versions_are_listed_newest_first_with_cursor_pages(alice, kit):
    mid = kit["manifest_id"]
    for n in range(1, 4):
        freeze(alice, mid)
        alice.put(f"/api/manifests/{mid}", {"name": f"Kit after {n}"})
    r = alice.get(f"/api/manifests/{mid}/versions?limit=2")
    assert r.status == 200
    assert [v["version"] for v in r.json] == [3, 2]
    cursor = r.headers["x-next-cursor"]
    rest = alice.get(f"/api/manifests/{mid}/versions?limit=2&cursor={cursor}")
    assert [v["version"] for v in rest.json] == [1]
    assert "x-next-cursor" not in rest.headers


def test_a_frozen_version_reads_exactly_as_frozen_with_a_strong_etag(alice, kit):
    mid = kit["manifest_id"]
    before = alice.get(f"/api/manifests/{mid}").json
    freeze(alice, mid)
    alice.put(f"/api/manifests/{mid}", {"name": "Changed", "description": None})
    alice.put(f"/api/assets/{kit['hero']}", {"name": "Villain"})
    r = alice.get(f"/api/manifests/{mid}/versions/1")
    assert r.status == 200
    assert frozen_view(r.json) == frozen_view(before)
    assert r.headers["etag"] == f'"{before["revision"]}"'
    again = alice.get(f"/api/manifests/{mid}/versions/1")
    assert again.headers["etag"] == r.headers["etag"]
    assert frozen_view(again.json) == frozen_view(r.json)
    hero = next(a for a in r.json["assets"] if a["asset_id"] == kit["hero"])
    assert "X-Amz-Signature=" in hero["reference_image_url"]


@pytest.mark.parametrize("version", ["2", "0", "abc", "1000000000"])
def test_a_version_that_is_not_frozen_is_404(alice, kit, version):
    freeze(alice, kit["manifest_id"])
    assert alice.get(f"/api/manifests/{kit['manifest_id']}/versions/{version}").status == 404


def test_the_working_version_is_not_readable_as_a_version_until_frozen(alice, kit):
    assert alice.get(f"/api/manifests/{kit['manifest_id']}/versions/1").status == 404


# --- diff -------------------------------------------------------------------------------------


def test_diff_reports_manifest_fields_and_assets_added_removed_and_changed(alice, kit):
    mid = kit["manifest_id"]
    freeze(alice, mid)
    alice.put(f"/api/manifests/{mid}", {"name": "Kit v2", "tags": ["a", "b"]})
    alice.put(f"/api/assets/{kit['hero']}", {"description": "braver", "sort_order": 5})
    assert alice.delete(f"/api/assets/{kit['car']}").status == 200
    extra = alice.asset(mid, name="Lamp", asset_type="PROP")
    r = alice.get(f"/api/manifests/{mid}/diff?from=1&to=current")
    assert r.status == 200, r
    d = r.json
    assert (d["from"], d["to"]) == ("1", "current")
    assert d["manifest_changes"] == {
        "name": {"from": "Kit v1", "to": "Kit v2"},
        "tags": {"from": ["a"], "to": ["a", "b"]},
    }
    assert [a["asset_id"] for a in d["added"]] == [extra["asset_id"]]
    assert [a["asset_id"] for a in d["removed"]] == [kit["car"]]
    [changed] = d["changed"]
    assert changed["asset_id"] == kit["hero"]
    assert changed["manifest_tag"] == "CHAR_01"
    assert changed["changes"] == {
        "description": {"from": "brave", "to": "braver"},
        "sort_order": {"from": 0, "to": 5},
    }
    freeze(alice, mid)
    assert alice.get(f"/api/manifests/{mid}/diff?from=2&to=current").json["changed"] == []
    assert alice.get(f"/api/manifests/{mid}/diff?from=1&to=2").json["removed"] == d["removed"]


@pytest.mark.parametrize(
    "query,status",
    [("from=1", 422), ("from=x&to=1", 422), ("from=1&to=9", 404), ("from=1&to=1&extra=1", 422)],
)
def test_diff_refuses_missing_malformed_or_unfrozen_versions(alice, kit, query, status):
    freeze(alice, kit["manifest_id"])
    r = alice.get(f"/api/manifests/{kit['manifest_id']}/diff?{query}")
    assert r.status == status, r
    assert "detail" in r.json


# --- restore ----------------------------------------------------------------------------------


def test_restore_brings_back_fields_assets_tags_and_images_and_removes_later_assets(alice, kit):
    mid = kit["manifest_id"]
    v1 = alice.get(f"/api/manifests/{mid}").json
    freeze(alice, mid)
    alice.put(f"/api/manifests/{mid}", {"name": "Kit v2", "description": None, "category": "STYLE_KIT"})
    alice.put(f"/api/assets/{kit['hero']}", {"name": "Villain", "asset_type": "PROP"})
    old_key = AssetModel.get(mid, kit["hero"], consistent_read=True).reference_image_key
    upload(alice, kit["hero"], image_bytes("image/png", (50, 20)))
    new_key = AssetModel.get(mid, kit["hero"], consistent_read=True).reference_image_key
    alice.delete(f"/api/assets/{kit['car']}")
    later = alice.asset(mid, name="Later")
    r = alice.post(f"/api/manifests/{mid}/versions/1/restore")
    assert r.status == 200, r
    restored = r.json
    # The old image is shown again (the asset's reference + version 1's); the
    # replacement nobody shows any more was released and collected.
    assert ImageRefModel.get(old_key, consistent_read=True).ref_count == 2
    assert storage().size_of(new_key) is None
    # The answer is the working copy as stored (built from the write, not re-read).
    assert frozen_view(restored) == frozen_view(alice.get(f"/api/manifests/{mid}").json)
    assert r.headers["etag"] == alice.get(f"/api/manifests/{mid}").headers["etag"]
    assert restored["version"] == 2  # an ordinary change of working version 2 (not frozen)
    assert frozen_view(restored)["assets"] == [
        {**a, "revision": a2["revision"], "updated_at": a2["updated_at"]}
        for a, a2 in zip(frozen_view(v1)["assets"], frozen_view(restored)["assets"], strict=True)
    ]
    for field in ("name", "description", "category", "tags", "asset_count"):
        assert restored[field] == v1[field]
    assert later["asset_id"] not in {a["asset_id"] for a in restored["assets"]}
    assert alice.get(f"/api/assets/{later['asset_id']}").status == 404
    assert alice.get(f"/api/assets/{kit['car']}").status == 200
    # Tag counters never go backward: the next character is not CHAR_01 again.
    assert alice.asset(mid, name="New")["manifest_tag"] == "CHAR_03"
    assert alice.get(f"/api/manifests/{mid}/diff?from=1&to=current").json["changed"] == []


def test_restore_of_a_frozen_working_version_starts_a_new_version(alice, kit):
    mid = kit["manifest_id"]
    freeze(alice, mid)
    alice.put(f"/api/manifests/{mid}", {"name": "Kit v2"})
    freeze(alice, mid)
    r = alice.post(f"/api/manifests/{mid}/versions/1/restore")
    assert r.status == 200
    assert (r.json["version"], r.json["name"]) == (3, "Kit v1")
    assert frozen_view(r.json) == frozen_view(alice.get(f"/api/manifests/{mid}").json)
    assert alice.get(f"/api/manifests/{mid}/versions/2").json["name"] == "Kit v2"


def test_restoring_an_unfrozen_version_is_404(alice, kit):
    assert alice.post(f"/api/manifests/{kit['manifest_id']}/versions/1/restore").status == 404


# --- duplicate a version ----------------------------------------------------------------------


def test_duplicate_of_a_version_copies_that_version_not_the_working_copy(alice, kit):
    mid = kit["manifest_id"]
    freeze(alice, mid)
    alice.put(f"/api/manifests/{mid}", {"name": "Kit v2"})
    alice.delete(f"/api/assets/{kit['car']}")
    r = alice.post(f"/api/manifests/{mid}/duplicate?version=1")
    assert r.status == 201, r
    copy = alice.get(f"/api/manifests/{r.json['manifest_id']}").json
    assert copy["name"] == "Kit v1 (Copy)"
    assert sorted(a["name"] for a in copy["assets"]) == ["Car", "Hero"]
    assert alice.asset(copy["manifest_id"], name="Next")["manifest_tag"] == "CHAR_02"
    assert alice.post(f"/api/manifests/{mid}/duplicate?version=7").status == 404


# --- projects pin frozen versions ---------------------------------------------------------------


def test_a_project_without_a_version_pins_the_working_version_and_freezes_it(alice, kit):
    mid = kit["manifest_id"]
    p = alice.project(title="Film", manifest_id=mid)
    assert p["manifest_version"] == 1
    [summary] = alice.get(f"/api/manifests/{mid}/versions").json
    assert (summary["version"], summary["pinned_by"]) == (1, 1)
    assert freeze(alice, mid, 200)["version"] == 1


def test_a_project_may_pin_a_frozen_version_or_the_working_one_and_nothing_else(alice, kit):
    mid = kit["manifest_id"]
    freeze(alice, mid)
    alice.put(f"/api/manifests/{mid}", {"name": "Kit v2"})
    assert alice.project(manifest_id=mid, manifest_version=1)["manifest_version"] == 1
    assert alice.project(manifest_id=mid, manifest_version=2)["manifest_version"] == 2
    alice.put(f"/api/manifests/{mid}", {"name": "Kit v3"})
    r = alice.post("/api/projects", {"manifest_id": mid, "manifest_version": 5})
    assert r.status == 422, r
    assert r.json["errors"][0]["loc"] == ["body", "manifest_version"]
    versions = alice.get(f"/api/manifests/{mid}/versions").json
    assert [(v["version"], v["pinned_by"]) for v in versions] == [(2, 1), (1, 1)]


def test_moving_or_deleting_a_project_moves_its_pin_count(alice, kit):
    mid = kit["manifest_id"]
    p = alice.project(manifest_id=mid)
    alice.put(f"/api/manifests/{mid}", {"name": "Kit v2"})
    r = alice.put(f"/api/projects/{p['project_id']}", {"manifest_version": 2})
    assert r.status == 200, r
    counts = {v["version"]: v["pinned_by"] for v in alice.get(f"/api/manifests/{mid}/versions").json}
    assert counts == {2: 1, 1: 0}
    assert alice.put(f"/api/projects/{p['project_id']}", {"manifest_version": 9}).status == 422
    assert alice.delete(f"/api/projects/{p['project_id']}").status == 200
    counts = {v["version"]: v["pinned_by"] for v in alice.get(f"/api/manifests/{mid}/versions").json}
    assert counts == {2: 0, 1: 0}


def test_the_pinned_manifest_of_a_project_is_its_version_and_404_without_a_pin(alice, kit):
    mid = kit["manifest_id"]
    p = alice.project(manifest_id=mid)
    r = alice.get(f"/api/projects/{p['project_id']}/manifest")
    assert r.status == 200
    assert r.json["version"] == 1 and r.json["name"] == "Kit v1"
    bare = alice.project(title="No manifest")
    assert alice.get(f"/api/projects/{bare['project_id']}/manifest").status == 404
    assert alice.get(f"/api/projects/{uuid.uuid4()}/manifest").status == 404


EDITS = {
    "manifest fields": lambda api, k: api.put(f"/api/manifests/{k['manifest_id']}", {"name": "Edited"}),
    "asset create": lambda api, k: api.post(
        f"/api/manifests/{k['manifest_id']}/assets", {"name": "New", "asset_type": "PROP"}
    ),
    "asset update": lambda api, k: api.put(f"/api/assets/{k['hero']}", {"description": "edited"}),
    "asset delete": lambda api, k: api.delete(f"/api/assets/{k['car']}"),
    "reorder": lambda api, k: api.put(f"/api/assets/{k['car']}", {"sort_order": -5}),
    "image replace": lambda api, k: upload(api, k["hero"], image_bytes("image/png", (64, 64))),
    # Not the manifest's first image, so only the upload's own write can bump the version.
    "image upload": lambda api, k: upload(api, k["car"], image_bytes("image/png", (64, 64))),
    "restore": lambda api, k: api.post(f"/api/manifests/{k['manifest_id']}/versions/1/restore"),
}


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_a_pinned_projects_manifest_is_unchanged_by_every_kind_of_edit(alice, kit, edit):
    mid = kit["manifest_id"]
    p = alice.project(manifest_id=mid)
    if edit == "restore":  # restore v1 onto a working copy that moved on
        alice.put(f"/api/manifests/{mid}", {"name": "Kit v2"})
    pinned = alice.get(f"/api/projects/{p['project_id']}/manifest").json
    detail = alice.get(f"/api/manifests/{mid}").json
    r = EDITS[edit](alice, kit)
    assert getattr(r, "status", 200) in (200, 201), r
    assert frozen_view(alice.get(f"/api/projects/{p['project_id']}/manifest").json) == frozen_view(pinned)
    after = alice.get(f"/api/manifests/{mid}").json
    assert after["version"] == 2
    assert frozen_view(after) != frozen_view(detail) or edit == "restore"


def test_images_of_a_frozen_version_survive_asset_deletion_and_image_replacement(alice, kit):
    mid = kit["manifest_id"]
    v1 = alice.get(f"/api/manifests/{mid}").json
    hero = next(a for a in v1["assets"] if a["asset_id"] == kit["hero"])
    key = hero["reference_image_url"].split("?")[0].split(f"/{storage().bucket}/", 1)[1]
    freeze(alice, mid)
    upload(alice, kit["hero"], image_bytes("image/png", (64, 64)))  # replace
    assert alice.delete(f"/api/assets/{kit['hero']}").status == 200
    assert storage().size_of(key) is not None
    assert ImageRefModel.get(key, consistent_read=True).ref_count >= 1
    url = next(a for a in alice.get(f"/api/manifests/{mid}/versions/1").json["assets"] if a["name"] == "Hero")
    assert url["reference_image_url"].split("?")[0].endswith(key)


# --- deletion ---------------------------------------------------------------------------------


def test_a_manifest_with_a_pinned_version_cannot_be_deleted_and_its_versions_vanish_after(alice, kit):
    mid = kit["manifest_id"]
    p = alice.project(manifest_id=mid)
    alice.put(f"/api/manifests/{mid}", {"name": "Kit v2"})
    assert alice.delete(f"/api/manifests/{mid}").status == 409
    assert alice.delete(f"/api/projects/{p['project_id']}").status == 200
    assert alice.delete(f"/api/manifests/{mid}").status == 200
    assert alice.get(f"/api/manifests/{mid}/versions").status == 404
    assert alice.get(f"/api/manifests/{mid}/versions/1").status == 404
    assert alice.get(f"/api/manifests/{mid}/diff?from=1&to=current").status == 404
    assert alice.post(f"/api/manifests/{mid}/versions").status == 404
    assert VersionModel.get(mid, 1, consistent_read=True).pinned_by == 0


def test_versions_of_another_owners_manifest_are_404(alice, bob, kit):
    mid = kit["manifest_id"]
    p = alice.project(manifest_id=mid)
    for method, path in [
        ("POST", f"/api/manifests/{mid}/versions"),
        ("GET", f"/api/manifests/{mid}/versions"),
        ("GET", f"/api/manifests/{mid}/versions/1"),
        ("GET", f"/api/manifests/{mid}/diff?from=1&to=current"),
        ("POST", f"/api/manifests/{mid}/versions/1/restore"),
        ("GET", f"/api/projects/{p['project_id']}/manifest"),
    ]:
        assert bob.call(method, path).status == 404, (method, path)
