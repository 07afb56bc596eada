"""Image references under failures: after any single failure, refs == assets showing
the image, and its objects exist exactly while there are references.

Each test fails one step (share, release, rollback, asset delete, image replace)
with the local backend's fault hook, or holds one request inside a latency fault
while another runs, and then checks the stored state."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.conftest import Api
from tests.functional.stored import (
    Background,
    assert_image_consistent,
    attach_image,
    collect_released_now,
    hold_seconds,
    image_state,
    stamp,
    unique_name,
    wait_for_hit,
)


def bucket() -> str:
    from chalicelib.storage import storage

    return storage().bucket


def deleted_while_cleanup_fails(api: Api, faults: Any) -> str:
    """Delete the only asset showing a new image while S3 refuses every object
    cleanup: the delete still answers 200, and the released image is left for the
    sweep. Returns the image's key."""
    asset = api.asset(api.manifest()["manifest_id"])
    key = attach_image(api, asset["asset_id"])
    faults.inject(service="s3", operation="DeleteObjects", match=bucket(), fault="error_before", times=None)
    assert api.delete(f"/api/assets/{asset['asset_id']}").status == 200
    faults.clear()
    return key


def test_an_asset_delete_whose_object_cleanup_fails_answers_200_and_the_sweep_collects(carol, faults):
    key = deleted_while_cleanup_fails(carol, faults)

    stranded = image_state(key)
    assert (stranded.ref_count, stranded.record, stranded.object) == (0, True, True)
    assert collect_released_now() >= 1
    state = assert_image_consistent(key)
    assert (state.record, state.object) == (False, False)


def test_a_record_stranded_at_zero_is_never_taken_again_by_a_duplicate(carol, owner, faults):
    """The duplicate has listed the asset (and is held writing its pending copy); the
    asset is then deleted, its objects too, but the record's delete fails (stranded
    at 0). The duplicate's acquire must fail (`ref_count > 0`), so the copy shows
    no image rather than a deleted one."""
    from chalicelib import services

    mid = carol.manifest()["manifest_id"]
    name = unique_name("asset")
    asset = carol.asset(mid, name=name)
    key = attach_image(carol, asset["asset_id"])
    copy_name = unique_name("copy")
    hold = faults.inject(
        service="dynamodb", operation="PutItem", match=copy_name, fault="latency", delay=hold_seconds()
    )
    faults.inject(service="dynamodb", operation="DeleteItem", match=key, fault="error_before", times=None)
    duplicate = Background(lambda: services.manifests().duplicate(owner, mid, copy_name))
    wait_for_hit(faults, hold)

    assert carol.delete(f"/api/assets/{asset['asset_id']}").status == 200
    faults.release(hold)  # the held call goes on now
    copy = duplicate.result()

    faults.clear()
    (copied,) = carol.get(f"/api/manifests/{copy.manifest_id}").json["assets"]
    assert (copied["name"], copied["reference_image_url"], copied["thumbnail_url"]) == (name, None, None)
    state = assert_image_consistent(key)
    assert (state.ref_count, state.object) == (0, False)
    collect_released_now()
    assert not image_state(key).record


def test_deleting_an_asset_while_a_duplicate_takes_its_image_keeps_the_image(carol, owner, faults):
    """The delete read the count (1) and is held before its transaction; a duplicate
    takes a reference meanwhile. The last-reference write is conditioned on exactly
    the count it releases, so it is refused and redone as a plain decrement."""
    from chalicelib import services

    mid = carol.manifest()["manifest_id"]
    asset = carol.asset(mid)
    key = attach_image(carol, asset["asset_id"])
    hold = faults.inject(
        service="dynamodb",
        operation="TransactWriteItems",
        match=asset["asset_id"],
        fault="latency",
        delay=hold_seconds(),
    )
    delete = Background(lambda: services.assets().delete(owner, asset["asset_id"]))
    wait_for_hit(faults, hold)

    r = carol.post(f"/api/manifests/{mid}/duplicate")
    assert r.status == 201, r
    faults.release(hold)  # the held call goes on now
    delete.result()

    (copied,) = carol.get(f"/api/manifests/{r.json['manifest_id']}").json["assets"]
    assert copied["reference_image_url"]
    state = assert_image_consistent(key)
    assert (state.ref_count, state.pointing, state.object) == (1, 1, True)


def test_replacing_an_image_releases_the_old_one_and_a_failed_cleanup_is_collected(carol, faults):
    mid = carol.manifest()["manifest_id"]
    asset = carol.asset(mid)
    first = attach_image(carol, asset["asset_id"], (30, 30))
    copy_id = carol.post(f"/api/manifests/{mid}/duplicate").json["manifest_id"]
    assert assert_image_consistent(first).ref_count == 2

    second = attach_image(carol, asset["asset_id"], (31, 31))
    assert assert_image_consistent(first).ref_count == 1, "the copy still shows the first image"
    assert assert_image_consistent(second).ref_count == 1

    (copied,) = carol.get(f"/api/manifests/{copy_id}").json["assets"]
    faults.inject(service="s3", operation="DeleteObjects", match=bucket(), fault="error_before", times=None)
    third = attach_image(carol, copied["asset_id"], (32, 32))
    faults.clear()

    stranded = image_state(first)
    assert (stranded.ref_count, stranded.pointing, stranded.object) == (0, 0, True)
    collect_released_now()
    assert not image_state(first).record
    for key in (first, second, third):
        assert_image_consistent(key)


def test_a_duplicate_failing_while_it_takes_references_is_finished_by_the_sweep(carol, owner, faults):
    """Every transaction touching the image commits and then answers 500 (all
    retries): the acquire, and the rollback's release too, so the rollback stops
    there as if its process died. The copy stays retired and invisible; the sweep
    finishes it, and nothing is released twice."""
    from chalicelib import services

    mid = carol.manifest()["manifest_id"]
    asset = carol.asset(mid)
    key = attach_image(carol, asset["asset_id"])
    faults.inject(
        service="dynamodb",
        operation="TransactWriteItems",
        match=key,
        fault="lose_response",
        status=500,
        times=None,
    )

    r = carol.post(f"/api/manifests/{mid}/duplicate")

    assert r.status >= 500, r
    faults.clear()
    assert [m["manifest_id"] for m in carol.get("/api/manifests").json] == [mid]
    assert services.manifests().sweep_abandoned_duplicates(stamp(timedelta(hours=1))) >= 1
    assert carol.get(f"/api/manifests/{mid}").json["asset_count"] == 1
    state = assert_image_consistent(key)
    assert (state.ref_count, state.held) == (1, 0)


def test_a_lost_answer_to_taking_references_takes_them_once(carol, owner, faults):
    mid = carol.manifest()["manifest_id"]
    asset = carol.asset(mid)
    key = attach_image(carol, asset["asset_id"])
    carol.asset(mid, name="same image")  # second asset, no image
    faults.inject(service="dynamodb", operation="TransactWriteItems", match=key, fault="lose_response")

    r = carol.post(f"/api/manifests/{mid}/duplicate")

    assert r.status == 201, r
    assert assert_image_consistent(key).ref_count == 2


def test_a_reference_record_still_shown_is_never_deleted_whatever_the_caller_believes(carol):
    """`delete_released` is conditioned on the stored count being 0, so a caller
    acting on a stale read (count 0 then, references taken since) deletes nothing."""
    from chalicelib.models import ImageRefModel
    from chalicelib.repositories.uploads import ImageRefRepository

    mid = carol.manifest()["manifest_id"]
    key = attach_image(carol, carol.asset(mid)["asset_id"])
    stale = ImageRefModel(key, thumbnail_key="t", owner_id="o", ref_count=0, zero_since=stamp())

    ImageRefRepository().delete_released(stale)

    assert assert_image_consistent(key).ref_count == 1


def test_the_scheduled_sweep_collects_released_images(carol, chalice_client, faults):
    key = deleted_while_cleanup_fails(carol, faults)
    from chalicelib.models import ImageRefModel

    # as if the releasing request died an hour ago
    ImageRefModel(key).update(actions=[ImageRefModel.zero_since.set(stamp(-timedelta(hours=1)))])
    tick = chalice_client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
    )
    assert chalice_client.lambda_.invoke("sweep_expired_uploads", tick).payload["released_images"] >= 1
    state = assert_image_consistent(key)
    assert (state.record, state.object) == (False, False)
