"""POST /manifests/{id}/duplicate, and the cleanup of duplicates that never finished."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from tests.conftest import Api
from tests.functional.stored import crashed_duplicate, stamp

COPIED_ASSET_FIELDS = (
    "asset_type",
    "name",
    "manifest_tag",
    "user_tags",
    "description",
    "sort_order",
    "source",
    "reverse_prompt",
    "visual_description",
    "reference_image_url",
    "thumbnail_url",
)


def detail(api: Api, manifest_id: str) -> dict[str, Any]:
    r = api.get(f"/api/manifests/{manifest_id}")
    assert r.status == 200, r.text
    return r.json


def test_a_duplicate_is_a_new_draft_copy_with_every_asset(alice):
    src = alice.manifest(name="Noir cast", description="d", category="CHARACTERS", tags=["noir", "1940s"])
    mid = src["manifest_id"]
    a = alice.asset(mid, name="Detective", description="tall", user_tags=["lead"])
    b = alice.asset(mid, name="Car", asset_type="VEHICLE")
    c = alice.asset(mid, name="Hat", asset_type="PROP", user_tags=["x", "y"])
    alice.put(
        f"/api/assets/{a['asset_id']}", {"sort_order": 3, "reverse_prompt": "rp", "visual_description": "vd"}
    )
    alice.put(f"/api/assets/{b['asset_id']}", {"sort_order": -1})
    alice.put(f"/api/assets/{c['asset_id']}", {"sort_order": 3})
    source = detail(alice, mid)

    r = alice.post(f"/api/manifests/{mid}/duplicate")
    assert r.status == 201, r.text
    copy = r.json
    assert copy["manifest_id"] != mid
    uuid.UUID(copy["manifest_id"])
    assert copy["name"] == "Noir cast (Copy)"
    assert (copy["status"], copy["version"], copy["asset_count"]) == ("DRAFT", 1, 3)
    assert (copy["times_used"], copy["last_used_at"]) == (0, None)
    assert (copy["description"], copy["category"], copy["tags"]) == ("d", "CHARACTERS", ["noir", "1940s"])

    copied = detail(alice, copy["manifest_id"])
    assert copied["parent_manifest_id"] == mid
    assert len(copied["assets"]) == copied["asset_count"] == 3
    for orig, dup in zip(source["assets"], copied["assets"], strict=True):
        assert dup["asset_id"] != orig["asset_id"]
        assert dup["manifest_id"] == copy["manifest_id"]
        for field in COPIED_ASSET_FIELDS:
            assert dup[field] == orig[field], field
    # the source is untouched
    after = detail(alice, mid)
    assert after["assets"] == source["assets"] and after["asset_count"] == 3
    assert after["parent_manifest_id"] is None


def test_copied_assets_are_reachable_on_their_own_routes(alice):
    mid = alice.manifest()["manifest_id"]
    alice.asset(mid)
    copy_id = alice.post(f"/api/manifests/{mid}/duplicate").json["manifest_id"]
    dup = detail(alice, copy_id)["assets"][0]
    assert alice.get(f"/api/assets/{dup['asset_id']}").json == dup
    assert alice.get(f"/api/manifests/{copy_id}/assets/{dup['asset_id']}").json == dup
    assert alice.get(f"/api/manifests/{mid}/assets/{dup['asset_id']}").status == 404
    assert alice.delete(f"/api/assets/{dup['asset_id']}").status == 200
    assert detail(alice, copy_id)["asset_count"] == 0
    assert detail(alice, mid)["asset_count"] == 1


def test_a_duplicate_continues_the_tag_numbering_of_its_source(alice):
    mid = alice.manifest()["manifest_id"]
    alice.asset(mid)
    alice.asset(mid)
    third = alice.asset(mid)
    alice.delete(f"/api/assets/{third['asset_id']}")  # CHAR_03 was used once
    copy_id = alice.post(f"/api/manifests/{mid}/duplicate").json["manifest_id"]
    assert [a["manifest_tag"] for a in detail(alice, copy_id)["assets"]] == ["CHAR_01", "CHAR_02"]
    assert alice.asset(copy_id)["manifest_tag"] == "CHAR_04"
    assert alice.asset(mid)["manifest_tag"] == "CHAR_04"


def test_the_name_can_be_given_and_is_validated(alice):
    mid = alice.manifest(name="Base")["manifest_id"]
    r = alice.post(f"/api/manifests/{mid}/duplicate?name=Variant%20B")
    assert r.status == 201 and r.json["name"] == "Variant B"
    for query in ("name=", f"name={'x' * 201}", "title=x", "name=a&name=b"):
        r = alice.post(f"/api/manifests/{mid}/duplicate?{query}")
        assert r.status == 422, (query, r.text)
    names = sorted(m["name"] for m in alice.get("/api/manifests").json)
    assert names == ["Base", "Variant B"]


def test_the_default_name_of_a_long_named_manifest_stays_within_the_limit(alice):
    mid = alice.manifest(name="n" * 200)["manifest_id"]
    r = alice.post(f"/api/manifests/{mid}/duplicate")
    assert r.status == 201
    assert len(r.json["name"]) == 200 and r.json["name"].endswith(" (Copy)")


def test_a_duplicate_is_listed_and_independent_of_its_source(alice):
    mid = alice.manifest(name="Src")["manifest_id"]
    p = alice.project(manifest_id=mid)
    copy_id = alice.post(f"/api/manifests/{mid}/duplicate").json["manifest_id"]
    listed = {m["manifest_id"] for m in alice.get("/api/manifests").json}
    assert {mid, copy_id} <= listed
    assert detail(alice, copy_id)["times_used"] == 0
    assert alice.delete(f"/api/manifests/{copy_id}").status == 200  # the reference stays on the source
    assert alice.delete(f"/api/manifests/{mid}").status == 409
    assert alice.delete(f"/api/projects/{p['project_id']}").status == 200


def _seed_assets(owner: str, manifest_id: str, count: int) -> list[str]:
    """Fill a manifest through the repository (500 API creates are the bench's job)."""
    from chalicelib.models import AssetModel, ManifestModel
    from chalicelib.repositories.assets import AssetRepository
    from chalicelib.repositories.base import utcnow
    from chalicelib.repositories.manifests import ManifestRepository

    now = utcnow()
    seeded = [
        AssetModel(
            manifest_id,
            str(uuid.uuid4()),
            owner_id=owner,
            asset_type="CHARACTER",
            name=f"extra {i}",
            manifest_tag=f"CHAR_{i + 1:02d}",
            user_tags=["crowd"],
            sort_order=i,
            created_at=now,
            updated_at=now,
        )
        for i in range(count)
    ]
    AssetRepository(ManifestRepository()).put_many(seeded)
    M = ManifestModel
    M(owner, manifest_id).update(
        actions=[M.asset_count.set(count), M.s_count.set(count), M.tag_seq["CHAR"].set(count)],
        condition=M.manifest_id.exists(),
    )
    return [a.asset_id for a in seeded]


def test_duplicating_a_manifest_with_500_assets_copies_them_all(carol, owner):
    mid = carol.manifest(name="Big")["manifest_id"]
    seeded = _seed_assets(owner, mid, 500)

    r = carol.post(f"/api/manifests/{mid}/duplicate")
    assert r.status == 201, r.text
    assert r.json["asset_count"] == 500
    copy = detail(carol, r.json["manifest_id"])
    assert copy["asset_count"] == len(copy["assets"]) == 500
    assert [a["manifest_tag"] for a in copy["assets"]] == [f"CHAR_{i:02d}" for i in range(1, 501)]
    assert {a["asset_id"] for a in copy["assets"]}.isdisjoint(seeded)
    # the copy is as full as its source: the 501st asset is refused
    r = carol.post(f"/api/manifests/{copy['manifest_id']}/assets", {"name": "one more", "asset_type": "PROP"})
    assert r.status == 409, r.text


def test_a_duplicate_in_progress_is_never_visible_half_copied(local_server, jwt_secret, owner):
    """Poll the list and every copy on it while a 500-asset duplicate runs in the
    real server: a copy may be absent or complete, never partial."""
    import threading

    import requests

    from tests.conftest import token_for

    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token_for(owner, jwt_secret)}"
    base = f"{local_server}/api"
    mid = session.post(f"{base}/manifests", json={"name": "Big"}).json()["manifest_id"]
    _seed_assets(owner, mid, 500)
    result: dict[str, Any] = {}

    def duplicate() -> None:
        result["response"] = requests.post(
            f"{base}/manifests/{mid}/duplicate", headers=dict(session.headers), timeout=60
        )

    def check_every_copy() -> int:
        copies = 0
        for m in session.get(f"{base}/manifests").json():
            if m["manifest_id"] == mid:
                continue
            copies += 1
            copy = session.get(f"{base}/manifests/{m['manifest_id']}").json()
            assert m["asset_count"] == 500
            assert copy["asset_count"] == len(copy["assets"]) == 500
        return copies

    worker = threading.Thread(target=duplicate)
    worker.start()
    polls_while_copying = 0
    while worker.is_alive():
        check_every_copy()
        polls_while_copying += 1
    worker.join()
    assert result["response"].status_code == 201, result["response"].text
    assert polls_while_copying >= 2, "the duplicate finished before it could be observed"
    assert check_every_copy() == 1


# --- duplicates that never finished ---------------------------------------------------------


def _leftovers(manifest_id: str, asset_ids: list[str], owner: str) -> dict[str, Any]:
    from chalicelib.models import AssetLocatorModel, AssetModel, ManifestModel

    locators = [a for a in asset_ids if AssetLocatorModel.count(a, consistent_read=True)]
    return {
        "manifest": ManifestModel.count(
            owner, ManifestModel.manifest_id == manifest_id, consistent_read=True
        ),
        "assets": AssetModel.count(manifest_id, consistent_read=True),
        "locators": len(locators),
    }


def test_an_unfinished_duplicate_is_invisible_on_every_route(carol, owner):
    source = carol.manifest(name="Source")["manifest_id"]
    copy_id, asset_ids = crashed_duplicate(owner, source, stamp(timedelta(minutes=20)))
    assert _leftovers(copy_id, asset_ids, owner) == {"manifest": 1, "assets": 3, "locators": 3}
    assert carol.get(f"/api/manifests/{copy_id}").status == 404
    assert carol.get(f"/api/manifests/{copy_id}/assets").status == 404
    assert carol.put(f"/api/manifests/{copy_id}", {"name": "x"}).status == 404
    assert carol.delete(f"/api/manifests/{copy_id}").status == 404
    assert carol.post(f"/api/manifests/{copy_id}/duplicate").status == 404
    assert carol.post(f"/api/manifests/{copy_id}/assets", {"name": "a", "asset_type": "PROP"}).status == 404
    assert carol.get(f"/api/assets/{asset_ids[0]}").status == 404
    assert carol.get(f"/api/manifests/{copy_id}/assets/{asset_ids[0]}").status == 404
    assert carol.put(f"/api/assets/{asset_ids[0]}", {"name": "x"}).status == 404
    assert carol.delete(f"/api/assets/{asset_ids[0]}").status == 404
    assert carol.post("/api/projects", {"manifest_id": copy_id}).status == 404
    for sort_by in ("updated_at", "created_at", "name", "times_used", "asset_count"):
        listed = carol.get(f"/api/manifests?sort_by={sort_by}").json
        assert [m["manifest_id"] for m in listed] == [source]
    assert carol.get("/api/manifests?category=CUSTOM&status=DRAFT").json[0]["manifest_id"] == source
    assert len(carol.get("/api/manifests?category=CUSTOM&status=DRAFT").json) == 1
    # not swept before its deadline: the copy may still be in progress
    from chalicelib import services

    services.manifests().sweep_abandoned_duplicates()
    assert _leftovers(copy_id, asset_ids, owner) == {"manifest": 1, "assets": 3, "locators": 3}
    _sweep_now(owner, copy_id)


def _sweep_now(owner: str, manifest_id: str) -> None:
    """Clean up a not-yet-expired pending copy this test made (as the sweep would)."""
    from chalicelib.repositories.assets import AssetRepository
    from chalicelib.repositories.manifests import ManifestRepository

    manifests = ManifestRepository()
    manifests.retire_pending(owner, manifest_id)
    AssetRepository(manifests).delete_all(manifest_id)
    manifests.delete_pending(owner, manifest_id)


def test_the_sweep_removes_an_abandoned_duplicate_with_its_assets_and_locators(carol, owner):
    from chalicelib import services

    source = carol.manifest(name="Source")["manifest_id"]
    copy_id, asset_ids = crashed_duplicate(owner, source, stamp(-timedelta(minutes=1)), assets=30)
    assert _leftovers(copy_id, asset_ids, owner) == {"manifest": 1, "assets": 30, "locators": 30}
    assert carol.get(f"/api/manifests/{copy_id}").status == 404

    assert services.manifests().sweep_abandoned_duplicates() >= 1
    assert _leftovers(copy_id, asset_ids, owner) == {"manifest": 0, "assets": 0, "locators": 0}
    assert carol.get(f"/api/manifests/{copy_id}").status == 404
    assert detail(carol, source)["name"] == "Source"


def test_the_scheduled_lambda_sweeps_abandoned_duplicates(chalice_client, carol, owner):
    source = carol.manifest(name="Source")["manifest_id"]
    copy_id, asset_ids = crashed_duplicate(owner, source, stamp(-timedelta(minutes=1)))
    event = chalice_client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
    )
    result = chalice_client.lambda_.invoke("sweep_abandoned_duplicates", event)
    assert result.payload["swept"] >= 1
    assert _leftovers(copy_id, asset_ids, owner) == {"manifest": 0, "assets": 0, "locators": 0}
