"""Duplicates under lost answers, failures, crashes and concurrent writes.

Faults come from the local backend's hook, matched on ids or names unique to the
test; interleavings are forced by holding one request inside a latency fault."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from chalicelib.errors import ConflictError
from tests.conftest import Api
from tests.functional.stored import (
    Background,
    assert_image_consistent,
    attach_image,
    crashed_duplicate,
    hold_seconds,
    stamp,
    unique_name,
    wait_for_hit,
)


def copies_of(owner: str, source_id: str) -> list[Any]:
    """Every manifest item copied from `source_id`, pending and retired ones included."""
    from chalicelib.models import ManifestModel as M

    return list(M.query(owner, filter_condition=M.parent_manifest_id == source_id, consistent_read=True))


def assets_of(manifest_id: str) -> list[Any]:
    from chalicelib.models import AssetModel

    return list(AssetModel.query(manifest_id, consistent_read=True))


def source_with_images(api: Api, count: int = 2) -> tuple[str, list[str]]:
    mid = api.manifest(name="Source")["manifest_id"]
    keys = [attach_image(api, api.asset(mid, name=f"a{i}")["asset_id"]) for i in range(count)]
    return mid, keys


# --- the publish write loses its answer, or fails ------------------------------------------


def test_a_lost_publish_answer_still_gives_the_client_its_published_copy(carol, owner, faults):
    mid, keys = source_with_images(carol)
    name = unique_name("copy")
    # The publish is the only UpdateItem carrying the copy's name (in its sort key).
    faults.inject(service="dynamodb", operation="UpdateItem", match=name, fault="lose_response")

    r = carol.post(f"/api/manifests/{mid}/duplicate?name={name}")

    assert r.status == 201, r
    copy = carol.get(f"/api/manifests/{r.json['manifest_id']}")
    assert copy.status == 200
    assert copy.json["asset_count"] == len(copy.json["assets"]) == 2
    assert all(a["reference_image_url"] for a in copy.json["assets"])
    for key in keys:
        assert assert_image_consistent(key).ref_count == 2


@pytest.mark.parametrize("operation", ["PutItem", "BatchWriteItem", "TransactWriteItems"])
def test_a_lost_answer_at_any_copying_step_still_gives_one_complete_copy(carol, owner, faults, operation):
    """PutItem: the pending copy (carries the name); BatchWriteItem: the copied
    assets; TransactWriteItems: taking an image's references (carries its key)."""
    mid, keys = source_with_images(carol, 1)
    name = unique_name("copy")
    match = keys[0] if operation == "TransactWriteItems" else name
    if operation == "BatchWriteItem":
        carol.put(f"/api/assets/{assets_of(mid)[0].asset_id}", {"name": name})
    faults.inject(service="dynamodb", operation=operation, match=match, fault="lose_response")

    r = carol.post(f"/api/manifests/{mid}/duplicate?name={name}")

    assert r.status == 201, r
    (copy,) = copies_of(owner, mid)
    assert copy.manifest_id == r.json["manifest_id"] and copy.pending_until is None
    assert len(assets_of(copy.manifest_id)) == 1
    assert assert_image_consistent(keys[0]).ref_count == 2


def test_a_duplicate_whose_publish_fails_leaves_nothing_behind(carol, owner, faults):
    """Rollback: the copy is retired, its assets deleted and exactly the references
    it recorded released (the duplicate-rollback mutation leaves a pending copy)."""
    mid, keys = source_with_images(carol)
    name = unique_name("copy")
    faults.inject(service="dynamodb", operation="UpdateItem", match=name, fault="error_before", times=None)

    r = carol.post(f"/api/manifests/{mid}/duplicate?name={name}")

    assert r.status >= 500, r  # the failing dependency (503 once SDK errors are translated)
    faults.clear()
    assert copies_of(owner, mid) == []
    assert [m["manifest_id"] for m in carol.get("/api/manifests").json] == [mid]
    for key in keys:
        assert assert_image_consistent(key).ref_count == 1


def test_a_copy_published_behind_a_failed_answer_is_never_rolled_back(carol, owner, faults):
    """The publish commits, then every answer fails (all retries): the rollback finds
    the copy published and the client gets it, with every asset."""
    mid, keys = source_with_images(carol)
    name = unique_name("copy")
    faults.inject(
        service="dynamodb", operation="UpdateItem", match=name, fault="lose_response", status=500, times=None
    )

    r = carol.post(f"/api/manifests/{mid}/duplicate?name={name}")

    faults.clear()
    (copy,) = copies_of(owner, mid)
    assert (copy.pending_until, copy.deleted_at) == (None, None), "published"
    assert r.status == 201, r
    assert r.json["manifest_id"] == copy.manifest_id
    assert len(assets_of(copy.manifest_id)) == int(copy.asset_count) == 2
    for key in keys:
        assert assert_image_consistent(key).ref_count == 2


# --- the sweep --------------------------------------------------------------------------------


def test_the_sweep_releases_exactly_the_references_a_crashed_duplicate_took(carol, owner):
    from chalicelib import services

    mid, (key,) = source_with_images(carol, 1)
    copy_id, _ = crashed_duplicate(owner, mid, stamp(-timedelta(minutes=1)), image_key=key)
    assert assert_image_consistent(key).ref_count == 4  # 1 shown + 3 held by the copy

    assert services.manifests().sweep_abandoned_duplicates() >= 1

    assert copies_of(owner, mid) == [] and assets_of(copy_id) == []
    assert assert_image_consistent(key).ref_count == 1


def test_a_sweep_that_crashed_midway_is_finished_by_the_next_one(carol, owner):
    """Retired and assets deleted, then the sweeper died: the next sweep releases the
    references (once) and deletes the item."""
    from chalicelib import services
    from chalicelib.repositories.assets import AssetRepository
    from chalicelib.repositories.manifests import ManifestRepository

    mid, (key,) = source_with_images(carol, 1)
    copy_id, _ = crashed_duplicate(owner, mid, stamp(-timedelta(minutes=1)), image_key=key)
    manifests = ManifestRepository()
    assert manifests.retire_pending(owner, copy_id, stamp()) == "retired"
    AssetRepository(manifests).delete_all(copy_id)
    assert image_state_held(key) == 3

    assert services.manifests().sweep_abandoned_duplicates() >= 1

    assert copies_of(owner, mid) == []
    assert assert_image_consistent(key).ref_count == 1


def image_state_held(key: str) -> int:
    from tests.functional.stored import image_state

    return image_state(key).held


def test_the_sweep_never_touches_a_published_copy(carol, owner):
    """A stale `pending` index entry (or a clock far ahead) must not remove a copy:
    the retire write is conditioned on the base item still being pending."""
    from chalicelib import services

    mid, keys = source_with_images(carol)
    copy_id = carol.post(f"/api/manifests/{mid}/duplicate").json["manifest_id"]
    far_future = stamp(timedelta(hours=1))

    assert services.manifests().discard_unfinished(owner, copy_id, due_before=far_future) == "published"
    assert services.manifests().sweep_abandoned_duplicates(far_future) >= 0

    copy = carol.get(f"/api/manifests/{copy_id}").json
    assert copy["asset_count"] == len(copy["assets"]) == 2
    for key in keys:
        assert assert_image_consistent(key).ref_count == 2


def test_a_copy_cannot_be_published_once_the_sweep_has_retired_it(carol, owner, faults):
    """The sweep holds inside its asset listing while the (late) publisher tries to
    publish: the retire came first, so the publish is refused and the copy goes
    whole. Without `retire_pending` the publish wins and the sweep then deletes the
    assets of a visible copy."""
    from chalicelib import services
    from chalicelib.models import ManifestModel
    from chalicelib.repositories.manifests import ManifestRepository

    mid, (key,) = source_with_images(carol, 1)
    copy_id, _ = crashed_duplicate(owner, mid, stamp(-timedelta(minutes=1)), image_key=key)
    hold = faults.inject(
        service="dynamodb", operation="Query", match=copy_id, fault="latency", delay=hold_seconds()
    )
    sweep = Background(services.manifests().sweep_abandoned_duplicates)
    wait_for_hit(faults, hold)

    late = ManifestModel.get(owner, copy_id, consistent_read=True)
    with pytest.raises(ConflictError):
        ManifestRepository().publish_pending(late)
    faults.release(hold)  # the held call goes on now
    sweep.result()

    assert carol.get(f"/api/manifests/{copy_id}").status == 404
    assert copies_of(owner, mid) == [] and assets_of(copy_id) == []
    assert assert_image_consistent(key).ref_count == 1


# --- tag counters of copies ----------------------------------------------------------------


def test_a_copy_never_reissues_a_tag_of_an_asset_created_during_the_copy(carol, owner, faults):
    """The duplicate holds inside its listing of the source's assets while another
    request creates an asset there: the copy contains it, so the copy's counter
    must cover its number."""
    from chalicelib import services

    mid = carol.manifest(name="Cast")["manifest_id"]
    carol.asset(mid, name="first")
    hold = faults.inject(
        service="dynamodb", operation="Query", match=mid, fault="latency", delay=hold_seconds()
    )
    duplicate = Background(lambda: services.manifests().duplicate(owner, mid, None))
    wait_for_hit(faults, hold)

    during = carol.asset(mid, name="during")
    faults.release(hold)  # the held call goes on now
    copy = duplicate.result()

    copied = carol.get(f"/api/manifests/{copy.manifest_id}").json["assets"]
    assert during["manifest_tag"] == "CHAR_02"
    assert sorted(a["manifest_tag"] for a in copied) == ["CHAR_01", "CHAR_02"], "the copy saw the new asset"
    issued = [carol.asset(copy.manifest_id, name=f"new {i}")["manifest_tag"] for i in range(2)]
    assert issued == ["CHAR_03", "CHAR_04"]
