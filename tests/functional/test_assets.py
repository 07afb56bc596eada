"""Assets through the app: tags, counts, limits, nested routes, edits and order."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from chalicelib.services.assets import format_tag
from tests.conftest import Api, token_for

ROOT = Path(__file__).resolve().parents[2]
PREFIXES = {
    "CHARACTER": "CHAR",
    "OBJECT": "OBJ",
    "ENVIRONMENT": "ENV",
    "PROP": "PROP",
    "STYLE": "STYLE",
    "VEHICLE": "VEH",
    "OTHER": "OTHER",
}
ASSET_FIELDS = {
    "asset_id",
    "manifest_id",
    "asset_type",
    "name",
    "manifest_tag",
    "user_tags",
    "reference_image_url",
    "thumbnail_url",
    "description",
    "source",
    "sort_order",
    "created_at",
    "reverse_prompt",
    "visual_description",
    "quality_score",
    "detection_class",
    "detection_confidence",
    "is_face_crop",
}
SMALL_LIMIT = 3


def detail(api: Api, manifest_id: str) -> dict[str, Any]:
    r = api.get(f"/api/manifests/{manifest_id}")
    assert r.status == 200, r.text
    return r.json


def tags(api: Api, manifest_id: str) -> list[str]:
    return [a["manifest_tag"] for a in detail(api, manifest_id)["assets"]]


@pytest.fixture
def limited(backend: dict[str, str], jwt_secret: str, tmp_path: Path) -> Api:
    """A user of the same app deployed with MAX_ASSETS_PER_MANIFEST=3.

    `chalice.test.Client` applies the stage's environment on every request, so
    the limit is set where a deployment sets it: in a copy of the stage config.
    """
    from chalice.test import Client

    from app import app

    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    config["stages"]["local"]["environment_variables"]["MAX_ASSETS_PER_MANIFEST"] = str(SMALL_LIMIT)
    (tmp_path / ".chalice").mkdir()
    (tmp_path / ".chalice" / "config.json").write_text(json.dumps(config))
    client = Client(app, stage_name="local", project_dir=str(tmp_path))
    return Api(client, token_for(f"user-{uuid.uuid4()}", jwt_secret))


# --- tags --------------------------------------------------------------------------


def test_every_asset_type_gets_its_own_prefix_numbered_from_01(alice):
    mid = alice.manifest()["manifest_id"]
    for asset_type, prefix in PREFIXES.items():
        r = alice.post(f"/api/manifests/{mid}/assets", {"name": asset_type.title(), "asset_type": asset_type})
        assert r.status == 201, r.text
        assert set(r.json) >= ASSET_FIELDS
        assert r.json["asset_type"] == asset_type
        assert r.json["manifest_tag"] == f"{prefix}_01"
        assert r.json["manifest_id"] == mid
        uuid.UUID(r.json["asset_id"])
    assert alice.asset(mid, asset_type="PROP")["manifest_tag"] == "PROP_02"
    assert alice.asset(mid, asset_type="CHARACTER")["manifest_tag"] == "CHAR_02"


def test_a_new_asset_carries_defaults_for_fields_filled_later(alice):
    mid = alice.manifest()["manifest_id"]
    a = alice.asset(mid, description="tall", user_tags=["lead", "hero"])
    assert a["description"] == "tall"
    assert a["user_tags"] == ["lead", "hero"]
    assert a["sort_order"] == 0
    assert a["reverse_prompt"] is None and a["visual_description"] is None
    assert a["quality_score"] is None and a["detection_class"] is None
    assert a["detection_confidence"] is None and a["is_face_crop"] is False
    assert a["reference_image_url"] is None and a["thumbnail_url"] is None
    assert a["created_at"].endswith("Z")


def test_tags_of_deleted_assets_are_never_handed_out_again(alice):
    mid = alice.manifest()["manifest_id"]
    first = alice.asset(mid)
    second = alice.asset(mid)
    assert (first["manifest_tag"], second["manifest_tag"]) == ("CHAR_01", "CHAR_02")
    assert alice.delete(f"/api/assets/{first['asset_id']}").status == 200
    third = alice.asset(mid)
    assert third["manifest_tag"] == "CHAR_03"  # a count-based scheme would hand out CHAR_02 again
    # deleting the newest does not give its number back either (a max+1 scheme would)
    assert alice.delete(f"/api/assets/{third['asset_id']}").status == 200
    assert alice.asset(mid)["manifest_tag"] == "CHAR_04"
    assert tags(alice, mid) == ["CHAR_02", "CHAR_04"]


def test_tags_are_numbered_per_prefix(alice):
    mid = alice.manifest()["manifest_id"]
    made = [
        alice.asset(mid, asset_type=t)["manifest_tag"] for t in ("CHARACTER", "PROP", "CHARACTER", "PROP")
    ]
    assert made == ["CHAR_01", "PROP_01", "CHAR_02", "PROP_02"]


def test_the_hundredth_character_is_char_100(alice):
    mid = alice.manifest()["manifest_id"]
    made = [alice.asset(mid, name=f"c{i}")["manifest_tag"] for i in range(100)]
    assert made == [format_tag("CHAR", n) for n in range(1, 101)]
    assert made[98:] == ["CHAR_99", "CHAR_100"]
    assert len(set(made)) == 100


def test_changing_the_asset_type_gives_a_fresh_tag_of_the_new_type(alice):
    mid = alice.manifest()["manifest_id"]
    hero = alice.asset(mid, asset_type="CHARACTER")
    prop = alice.asset(mid, asset_type="PROP")
    assert (hero["manifest_tag"], prop["manifest_tag"]) == ("CHAR_01", "PROP_01")

    r = alice.put(f"/api/assets/{hero['asset_id']}", {"asset_type": "PROP"})
    assert r.status == 200, r.text
    assert r.json["asset_type"] == "PROP"
    assert r.json["manifest_tag"] == "PROP_02"

    r = alice.put(f"/api/assets/{hero['asset_id']}", {"asset_type": "CHARACTER"})
    assert r.json["manifest_tag"] == "CHAR_02"  # CHAR_01 is not reused

    r = alice.put(f"/api/assets/{prop['asset_id']}", {"asset_type": "PROP", "name": "Sword"})
    assert r.json["manifest_tag"] == "PROP_01"  # same type: the tag stays
    assert sorted(tags(alice, mid)) == ["CHAR_02", "PROP_01"]
    assert detail(alice, mid)["asset_count"] == 2


# --- counts and limits -----------------------------------------------------------------


def test_asset_count_equals_the_number_of_assets_after_creates_and_deletes(alice):
    mid = alice.manifest()["manifest_id"]
    made = [alice.asset(mid, name=f"a{i}") for i in range(5)]
    assert detail(alice, mid)["asset_count"] == 5
    assert alice.delete(f"/api/assets/{made[0]['asset_id']}").status == 200
    assert alice.delete(f"/api/manifests/{mid}/assets/{made[1]['asset_id']}").status == 200
    # deleting again finds nothing and must not count twice
    assert alice.delete(f"/api/assets/{made[0]['asset_id']}").status == 404
    assert alice.delete(f"/api/manifests/{mid}/assets/{made[1]['asset_id']}").status == 404
    body = detail(alice, mid)
    assert body["asset_count"] == len(body["assets"]) == 3
    assert len(alice.get(f"/api/manifests/{mid}/assets").json) == 3
    listed = {m["manifest_id"]: m for m in alice.get("/api/manifests").json}
    assert listed[mid]["asset_count"] == 3


def test_creating_an_asset_bumps_the_manifests_updated_at(alice):
    m = alice.manifest()
    alice.asset(m["manifest_id"])
    assert detail(alice, m["manifest_id"])["updated_at"] > m["updated_at"]


def test_a_manifest_refuses_assets_beyond_the_configured_limit(limited):
    mid = limited.manifest()["manifest_id"]
    made = [limited.asset(mid, name=f"a{i}") for i in range(SMALL_LIMIT)]
    r = limited.post(f"/api/manifests/{mid}/assets", {"name": "one too many", "asset_type": "PROP"})
    assert r.status == 409, r.text
    assert str(SMALL_LIMIT) in r.json["detail"]
    assert detail(limited, mid)["asset_count"] == SMALL_LIMIT
    # room again after a delete
    assert limited.delete(f"/api/assets/{made[0]['asset_id']}").status == 200
    limited.asset(mid, name="fits")
    body = detail(limited, mid)
    assert body["asset_count"] == len(body["assets"]) == SMALL_LIMIT


def test_the_asset_transaction_itself_refuses_a_full_manifest(make_user):
    """The limit holds in the write, not only in the read before it (which races)."""
    from chalicelib.models import AssetModel
    from chalicelib.repositories.assets import AssetRepository
    from chalicelib.repositories.base import ConditionFailed, utcnow
    from chalicelib.repositories.manifests import ManifestRepository

    owner = f"user-{uuid.uuid4()}"
    alice = make_user(owner)
    mid = alice.manifest()["manifest_id"]
    alice.asset(mid)
    repo = AssetRepository(ManifestRepository())
    now = utcnow()
    asset = AssetModel(
        mid,
        str(uuid.uuid4()),
        owner_id=owner,
        asset_type="PROP",
        name="sneaky",
        manifest_tag="PROP_99",
        created_at=now,
        updated_at=now,
    )
    with pytest.raises(ConditionFailed):
        repo.create(asset, now, max_assets=1)
    assert repo.get(mid, asset.asset_id) is None
    assert repo.locate(asset.asset_id) is None
    assert detail(alice, mid)["asset_count"] == 1


# --- nested routes ------------------------------------------------------------------


def test_nested_routes_read_update_and_delete_an_asset(alice):
    mid = alice.manifest()["manifest_id"]
    a = alice.asset(mid)
    path = f"/api/manifests/{mid}/assets/{a['asset_id']}"
    r = alice.get(path)
    assert r.status == 200 and r.json == a
    r = alice.put(path, {"name": "Villain", "user_tags": ["bad"]})
    assert r.status == 200, r.text
    assert (r.json["name"], r.json["user_tags"]) == ("Villain", ["bad"])
    assert alice.get(f"/api/assets/{a['asset_id']}").json["name"] == "Villain"
    r = alice.delete(path)
    assert r.status == 200
    assert r.json == {"status": "deleted", "asset_id": a["asset_id"]}
    assert alice.get(path).status == 404
    assert alice.get(f"/api/assets/{a['asset_id']}").status == 404


def test_nested_routes_answer_404_when_the_asset_is_in_another_manifest(alice):
    home = alice.manifest()["manifest_id"]
    other = alice.manifest(name="Other")["manifest_id"]
    a = alice.asset(home)
    path = f"/api/manifests/{other}/assets/{a['asset_id']}"
    assert alice.get(path).status == 404
    assert alice.put(path, {"name": "moved?"}).status == 404
    assert alice.delete(path).status == 404
    assert alice.get(f"/api/manifests/{home}/assets/{uuid.uuid4()}").status == 404
    assert alice.get(f"/api/manifests/{uuid.uuid4()}/assets/{a['asset_id']}").status == 404
    # nothing changed anywhere
    assert alice.get(f"/api/assets/{a['asset_id']}").json == a
    assert detail(alice, home)["asset_count"] == 1
    assert detail(alice, other)["asset_count"] == 0


def test_another_owner_cannot_reach_an_asset_through_the_nested_routes(alice, bob):
    mid = alice.manifest()["manifest_id"]
    a = alice.asset(mid)
    path = f"/api/manifests/{mid}/assets/{a['asset_id']}"
    assert bob.get(path).status == 404
    assert bob.put(path, {"name": "mine"}).status == 404
    assert bob.delete(path).status == 404
    assert bob.get(f"/api/manifests/{mid}/assets").status == 404
    assert alice.get(path).json == a


# --- edits --------------------------------------------------------------------------


def test_put_stores_long_reverse_prompt_and_visual_description(alice):
    mid = alice.manifest()["manifest_id"]
    a = alice.asset(mid)
    reverse_prompt = ("A weathered detective in a trench coat, rain-soaked street.\n" * 140)[:8000]
    visual = "Close-up, low key lighting; " * 285
    assert len(reverse_prompt) == 8000 and len(visual) > 7900
    r = alice.put(
        f"/api/assets/{a['asset_id']}",
        {"reverse_prompt": reverse_prompt, "visual_description": visual, "sort_order": 7},
    )
    assert r.status == 200, r.text
    stored = alice.get(f"/api/assets/{a['asset_id']}").json
    assert stored["reverse_prompt"] == reverse_prompt.strip()
    assert stored["visual_description"] == visual.strip()
    assert stored["sort_order"] == 7
    assert stored["updated_at"] > a["updated_at"]
    assert stored["manifest_tag"] == a["manifest_tag"]
    # nullable text can be cleared
    r = alice.put(f"/api/assets/{a['asset_id']}", {"reverse_prompt": None})
    assert r.status == 200 and r.json["reverse_prompt"] is None
    assert r.json["visual_description"] == visual.strip()


def test_put_refuses_text_longer_than_the_limit_and_nulls_for_required_fields(alice):
    mid = alice.manifest()["manifest_id"]
    a = alice.asset(mid)
    path = f"/api/assets/{a['asset_id']}"
    for body, field in (
        ({"reverse_prompt": "x" * 8001}, "reverse_prompt"),
        ({"visual_description": "x" * 8001}, "visual_description"),
        ({"name": None}, "name"),
        ({"sort_order": None}, "sort_order"),
        ({"asset_type": None}, "asset_type"),
        ({"asset_type": "DRAGON"}, "asset_type"),
        ({"sort_order": "first"}, "sort_order"),
        ({"manifest_tag": "CHAR_77"}, "manifest_tag"),
    ):
        r = alice.put(path, body)
        assert r.status == 422, (body, r.text)
        assert ["body", field] in [e["loc"][:2] for e in r.json["errors"]], r.text
    assert alice.get(path).json == a


# --- order ---------------------------------------------------------------------------


def test_assets_are_ordered_by_sort_order_then_created_at(alice):
    mid = alice.manifest()["manifest_id"]
    made = [alice.asset(mid, name=f"a{i}")["asset_id"] for i in range(8)]
    # a0..a5 tie on sort_order 1 (creation order must decide), a6 first, a7 last
    for asset_id in made[:6]:
        assert alice.put(f"/api/assets/{asset_id}", {"sort_order": 1}).status == 200
    alice.put(f"/api/assets/{made[6]}", {"sort_order": -5})
    alice.put(f"/api/manifests/{mid}/assets/{made[7]}", {"sort_order": 100})
    expected = [made[6], *made[:6], made[7]]
    listed = alice.get(f"/api/manifests/{mid}/assets")
    assert listed.status == 200
    assert [a["asset_id"] for a in listed.json] == expected
    assert [a["asset_id"] for a in detail(alice, mid)["assets"]] == expected
