"""Versions under races and failures, forced with the local backend's fault hook.

A call is held with a one-shot "latency" rule matched on this test's ids; the
test waits until the hook has caught it (the rule's `hits`), runs the other
request to completion, then releases the hold, so the interleaving is a fact the
test establishes, not a timing it hopes for.
"""

from __future__ import annotations

import pytest

from chalicelib import config
from chalicelib.models import AssetModel, ImageRefModel, VersionModel
from chalicelib.storage import storage
from tests.functional.faultplay import (
    WAIT_SECONDS,
    botocore_attempts,
    hold_seconds,
    in_background,
    wait_for_hits,
)
from tests.functional.test_uploads import upload
from tests.functional.test_versions import freeze, frozen_view
from tests.imagefactory import image_bytes


def s3_hold_seconds() -> float:
    """A held S3 call must not outlast the S3 read timeout (botocore would re-send it)."""
    return min(hold_seconds(), config.s3_read_timeout() - 1.0)


@pytest.fixture
def kit(alice):
    m = alice.manifest(name="Race kit")
    hero = alice.asset(m["manifest_id"], name="Hero", description="before")
    return {"manifest_id": m["manifest_id"], "hero": hero["asset_id"]}


def working(alice, mid):
    return alice.get(f"/api/manifests/{mid}").json


def assert_consistent(alice, mid: str) -> None:
    """The working copy at a frozen version number is exactly that version."""
    current = working(alice, mid)
    frozen = alice.get(f"/api/manifests/{mid}/versions/{current['version']}")
    if frozen.status == 200:
        assert frozen_view(frozen.json) == frozen_view(current)


# --- consistent cut -----------------------------------------------------------------------------


def test_an_asset_write_landing_inside_a_freeze_is_wholly_in_that_version(alice, faults, kit):
    """Freeze reads the manifest and its assets, then is held on the body upload
    while an asset update commits; the freeze must not commit the older cut."""
    mid = kit["manifest_id"]
    rule = faults.inject(
        service="s3", operation="PutObject", match=mid, fault="latency", delay=s3_hold_seconds()
    )
    freezing = in_background(lambda: alice.post(f"/api/manifests/{mid}/versions"))
    held = wait_for_hits(faults, rule)
    assert alice.put(f"/api/assets/{kit['hero']}", {"description": "during"}).status == 200
    held.release()
    r = freezing.result(timeout=WAIT_SECONDS)
    assert r.status == 201, r
    assert r.json["version"] == 1
    v1 = alice.get(f"/api/manifests/{mid}/versions/1").json
    assert v1["assets"][0]["description"] == "during"
    assert working(alice, mid)["version"] == 1
    assert_consistent(alice, mid)
    # The attempt that lost its race removed its own body; the committed one stays.
    assert version_bodies(mid) == {stored_version(mid, 1).body_key}


def test_an_asset_write_committing_after_a_freeze_starts_the_next_version(alice, faults, kit):
    """The update is held at its transaction while a freeze commits: it lands in
    version 2, never inside frozen version 1."""
    mid = kit["manifest_id"]
    rule = faults.inject(
        service="dynamodb",
        operation="TransactWriteItems",
        match=kit["hero"],
        fault="latency",
        delay=hold_seconds(),
    )
    updating = in_background(lambda: alice.put(f"/api/assets/{kit['hero']}", {"description": "after"}))
    held = wait_for_hits(faults, rule)
    assert freeze(alice, mid, 201)["version"] == 1
    held.release()
    assert updating.result(timeout=WAIT_SECONDS).status == 200
    v1 = alice.get(f"/api/manifests/{mid}/versions/1").json
    assert v1["assets"][0]["description"] == "before"
    current = working(alice, mid)
    assert (current["version"], current["assets"][0]["description"]) == (2, "after")


def test_an_asset_create_racing_a_freeze_is_counted_in_exactly_one_version(alice, faults, kit):
    mid = kit["manifest_id"]
    rule = faults.inject(
        service="s3", operation="PutObject", match=mid, fault="latency", delay=s3_hold_seconds()
    )
    freezing = in_background(lambda: alice.post(f"/api/manifests/{mid}/versions"))
    held = wait_for_hits(faults, rule)
    alice.asset(mid, name="Sidekick", asset_type="PROP")
    held.release()
    r = freezing.result(timeout=WAIT_SECONDS)
    assert r.status == 201, r
    v1 = alice.get(f"/api/manifests/{mid}/versions/1").json
    assert r.json["asset_count"] == v1["asset_count"] == len(v1["assets"]) == 2
    assert_consistent(alice, mid)


# --- lost answers and dying Lambdas ---------------------------------------------------------------


def version_bodies(mid: str) -> set[str]:
    store = storage()
    listed = store.client.list_objects_v2(Bucket=store.bucket, Prefix="versions/")
    return {o["Key"] for o in listed.get("Contents", []) if f"/{mid}/" in o["Key"]}


def stored_version(mid: str, version: int) -> VersionModel | None:
    try:
        return VersionModel.get(mid, version, consistent_read=True)
    except VersionModel.DoesNotExist:
        return None


@pytest.mark.parametrize("fault", ["lose_response", "reset"])
def test_a_freeze_whose_transaction_answer_is_lost_reports_what_was_stored(alice, faults, kit, fault):
    mid = kit["manifest_id"]
    upload(alice, kit["hero"], image_bytes("image/png", (30, 30)))
    faults.inject(service="dynamodb", operation="TransactWriteItems", match=f"{mid}/1-r", fault=fault)
    r = alice.post(f"/api/manifests/{mid}/versions")
    assert r.status == 201, r
    assert stored_version(mid, 1) is not None
    # The version's image reference was taken exactly once (the asset's + the version's).
    key = AssetModel.get(mid, kit["hero"], consistent_read=True).reference_image_key
    assert ImageRefModel.get(key, consistent_read=True).ref_count == 2
    assert alice.get(f"/api/manifests/{mid}/versions/1").status == 200
    assert freeze(alice, mid, 200) == r.json


def test_a_freeze_that_never_hears_back_is_told_the_truth_and_leaves_a_whole_version(alice, faults, kit):
    """Every attempt commits-or-not without an answer: the client learns the real
    outcome (201 with the version, or 503 with nothing stored), never a half."""
    mid = kit["manifest_id"]
    faults.inject(
        service="dynamodb",
        operation="TransactWriteItems",
        match=f"{mid}/1-r",
        fault="lose_response",
        times=botocore_attempts(),
    )
    r = alice.post(f"/api/manifests/{mid}/versions")
    stored = stored_version(mid, 1)
    manifest = alice.get(f"/api/manifests/{mid}").json
    if r.status == 201:
        assert stored is not None and int(stored.revision) == manifest["revision"]
        assert alice.get(f"/api/manifests/{mid}/versions/1").status == 200
    else:
        assert r.status == 503 and "retry-after" in r.headers, r
        assert stored is None
    assert r.status == 201, "the freeze committed on its first attempt: it must say so"


def test_a_freeze_that_dies_before_its_transaction_leaves_no_version(alice, faults, kit):
    mid = kit["manifest_id"]
    faults.inject(
        service="dynamodb",
        operation="TransactWriteItems",
        match=f"{mid}/1-r",
        fault="error_before",
        status=503,
        times=None,
    )
    r = alice.post(f"/api/manifests/{mid}/versions")
    assert r.status == 503, r
    faults.clear()
    assert stored_version(mid, 1) is None
    assert alice.get(f"/api/manifests/{mid}/versions").json == []
    assert freeze(alice, mid, 201)["version"] == 1


def test_a_pin_whose_answer_is_lost_pins_once_and_reports_the_project(alice, faults, kit):
    mid = kit["manifest_id"]
    freeze(alice, mid)
    faults.inject(
        service="dynamodb", operation="TransactWriteItems", match="Pinned film", fault="lose_response"
    )
    r = alice.post("/api/projects", {"title": "Pinned film", "manifest_id": mid, "manifest_version": 1})
    assert r.status == 201, r
    [summary] = alice.get(f"/api/manifests/{mid}/versions").json
    assert summary["pinned_by"] == 1
    assert alice.get(f"/api/projects/{r.json['project_id']}/manifest").json["version"] == 1


def test_a_restore_whose_answer_is_lost_is_whole_and_reported(alice, faults, kit):
    mid = kit["manifest_id"]
    freeze(alice, mid)
    alice.put(f"/api/manifests/{mid}", {"name": "Race kit v2"})
    alice.put(f"/api/assets/{kit['hero']}", {"description": "v2"})
    extra = alice.asset(mid, name="Extra")
    faults.inject(
        service="dynamodb", operation="TransactWriteItems", match=extra["asset_id"], fault="lose_response"
    )
    r = alice.post(f"/api/manifests/{mid}/versions/1/restore")
    assert r.status == 200, r
    assert r.json["name"] == "Race kit"
    assert [a["description"] for a in r.json["assets"]] == ["before"]
    assert alice.get(f"/api/assets/{extra['asset_id']}").status == 404
    assert alice.get(f"/api/manifests/{mid}/diff?from=1&to=current").json["changed"] == []


def test_an_asset_created_while_a_restore_is_in_flight_is_removed_by_it_or_kept_consistently(
    alice, faults, kit
):
    """The restore's transaction is held while an asset is created: the restore
    must not commit the plan it made before (asset_count would be wrong and the
    new asset would survive a restore that promised version 1's assets)."""
    mid = kit["manifest_id"]
    freeze(alice, mid)
    alice.put(f"/api/assets/{kit['hero']}", {"description": "v2"})
    rule = faults.inject(
        service="dynamodb",
        operation="TransactWriteItems",
        match=kit["hero"],
        fault="latency",
        delay=hold_seconds(),
    )
    restoring = in_background(lambda: alice.post(f"/api/manifests/{mid}/versions/1/restore"))
    held = wait_for_hits(faults, rule)
    late = alice.asset(mid, name="Late", asset_type="PROP")
    held.release()
    r = restoring.result(timeout=WAIT_SECONDS)
    assert r.status == 200, r
    current = working(alice, mid)
    assert [a["asset_id"] for a in current["assets"]] == [kit["hero"]]
    assert current["asset_count"] == 1
    assert current["assets"][0]["description"] == "before"
    assert alice.get(f"/api/assets/{late['asset_id']}").status == 404


def test_a_restore_that_cannot_write_changes_nothing_and_says_so(alice, faults, kit):
    mid = kit["manifest_id"]
    freeze(alice, mid)
    alice.put(f"/api/assets/{kit['hero']}", {"description": "v2"})
    before = working(alice, mid)
    faults.inject(
        service="dynamodb",
        operation="TransactWriteItems",
        match=kit["hero"],
        fault="error_before",
        status=503,
        times=None,
    )
    r = alice.post(f"/api/manifests/{mid}/versions/1/restore")
    assert r.status == 503 and "retry-after" in r.headers, r
    faults.clear()
    assert frozen_view(working(alice, mid)) == frozen_view(before)
