"""Races forced with the fault hook, so each invariant's enforcement is what
decides the outcome, on any machine at any load.

The pattern: request A runs in the background and the hook holds one of its
calls ("latency", one-shot, matched on this test's ids); the test waits until
the hook has caught it, runs request B to completion, then lets A finish.
Without the enforcement (an atomic ADD, a condition) the invariant breaks.
"""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import urlsplit

from chalicelib.models import ProjectModel
from tests.functional.faultplay import (
    hold_seconds,
    in_background,
    stored_assets,
    stored_manifest,
    wait_for_hits,
    while_held,
)
from tests.functional.test_uploads import upload
from tests.imagefactory import image_bytes


def hold(faults: Any, operation: str, match: str) -> str:
    """Hold the next matching DynamoDB call for hold_seconds(), then apply it."""
    return faults.inject(
        service="dynamodb", operation=operation, match=match, fault="latency", delay=hold_seconds()
    )


def create_asset(api: Any, mid: str, name: str = "Hero") -> Any:
    return api.post(f"/api/manifests/{mid}/assets", {"name": name, "asset_type": "CHARACTER"})


# --- tags and counts -----------------------------------------------------------------


def test_two_creates_racing_on_the_tag_counter_get_distinct_tags(owner, carol, faults):
    """A's tag allocation is held after A could have read the counter; B allocates
    and stores meanwhile. An atomic ADD hands A the next number; read-then-write
    would hand A the number B already holds."""
    sub, api = owner, carol
    mid = api.manifest()["manifest_id"]
    rule = hold(faults, "UpdateItem", mid)
    a = in_background(lambda: create_asset(api, mid, "A"))
    held = wait_for_hits(faults, rule)
    b = while_held(held, lambda: create_asset(api, mid, "B"))
    assert b.status == 201, b
    assert a.result().status == 201, a.result()
    tags = sorted(x.manifest_tag for x in stored_assets(mid))
    assert len(tags) == len(set(tags)) == 2, tags
    assert stored_manifest(sub, mid).asset_count == 2


def test_two_creates_racing_on_asset_count_leave_it_exact(owner, carol, faults):
    """A's transaction is held; B stores its asset; then A's applies. The count
    is an ADD in each transaction, so it ends at 2 with 2 assets."""
    sub, api = owner, carol
    mid = api.manifest()["manifest_id"]
    rule = hold(faults, "TransactWriteItems", mid)
    a = in_background(lambda: create_asset(api, mid, "A"))
    held = wait_for_hits(faults, rule)
    assert while_held(held, lambda: create_asset(api, mid, "B")).status == 201
    assert a.result().status == 201
    assert stored_manifest(sub, mid).asset_count == len(stored_assets(mid)) == 2


def test_two_deletes_of_one_asset_decrement_the_count_once(owner, carol, faults):
    """A's delete transaction is held; B deletes the asset; A's then finds no
    asset (its condition) and decrements nothing."""
    sub, api = owner, carol
    mid = api.manifest()["manifest_id"]
    api.asset(mid, name="keep")
    aid = api.asset(mid, name="gone")["asset_id"]
    rule = hold(faults, "TransactWriteItems", aid)
    a = in_background(lambda: api.delete(f"/api/assets/{aid}"))
    held = wait_for_hits(faults, rule)
    assert while_held(held, lambda: api.delete(f"/api/assets/{aid}")).status == 200
    assert a.result().status == 404, a.result()
    assert stored_manifest(sub, mid).asset_count == len(stored_assets(mid)) == 1


def test_an_asset_is_not_stored_in_a_manifest_deleted_after_its_tag_was_allocated(owner, carol, faults):
    """The asset transaction itself requires a live manifest: the allocation's
    condition held, but the manifest was deleted before the transaction."""
    sub, api = owner, carol
    mid = api.manifest()["manifest_id"]
    rule = hold(faults, "TransactWriteItems", mid)
    a = in_background(lambda: create_asset(api, mid))
    held = wait_for_hits(faults, rule)
    assert while_held(held, lambda: api.delete(f"/api/manifests/{mid}")).status == 200
    assert a.result().status == 404, a.result()
    assert stored_assets(mid) == []
    assert stored_manifest(sub, mid).asset_count == 0


# --- references between projects and manifests ----------------------------------------


def test_a_manifest_delete_racing_an_attach_is_refused_by_the_reference_count(owner, carol, faults):
    """The delete's write is held after anything it could have read; a project
    attaches meanwhile. The delete's own `ref_count = 0` condition refuses it;
    a decision taken from the projects GSI before the attach would delete a
    referenced manifest."""
    sub, api = owner, carol
    mid = api.manifest()["manifest_id"]
    rule = hold(faults, "UpdateItem", mid)
    deleting = in_background(lambda: api.delete(f"/api/manifests/{mid}"))
    held = wait_for_hits(faults, rule)
    project = while_held(held, lambda: api.post("/api/projects", {"title": "Film", "manifest_id": mid}))
    assert project.status == 201, project
    r = deleting.result()
    assert r.status == 409, r
    assert r.json["project_ids"] == [project.json["project_id"]]
    manifest = stored_manifest(sub, mid)
    assert manifest.deleted_at is None and manifest.ref_count == 1


def test_an_attach_racing_a_manifest_delete_is_refused_by_the_live_condition(owner, carol, faults):
    """The attach read a live manifest; its transaction is held while the manifest
    is deleted; the transaction's live-manifest condition then refuses it."""
    sub, api = owner, carol
    mid = api.manifest()["manifest_id"]
    title = f"Film {uuid.uuid4()}"  # only the attach transaction carries it (not the pin's freeze)
    rule = hold(faults, "TransactWriteItems", title)
    attaching = in_background(lambda: api.post("/api/projects", {"title": title, "manifest_id": mid}))
    held = wait_for_hits(faults, rule)
    assert while_held(held, lambda: api.delete(f"/api/manifests/{mid}")).status == 200
    r = attaching.result()
    assert r.status == 404, r
    assert list(ProjectModel.query(sub, consistent_read=True)) == []
    assert stored_manifest(sub, mid).ref_count == 0


def test_two_attaches_racing_count_two_uses(owner, carol, faults):
    """A read the manifest (times_used 0), its transaction is held, B attaches;
    an ADD makes it 2, a write of "what A read + 1" would make it 1."""
    sub, api = owner, carol
    mid = api.manifest()["manifest_id"]
    title = f"A {uuid.uuid4()}"  # only A's attach transaction carries it (not the pin's freeze)
    rule = hold(faults, "TransactWriteItems", title)
    a = in_background(lambda: api.post("/api/projects", {"title": title, "manifest_id": mid}))
    held = wait_for_hits(faults, rule)
    assert (
        while_held(held, lambda: api.post("/api/projects", {"title": "B", "manifest_id": mid})).status == 201
    )
    assert a.result().status == 201
    manifest = stored_manifest(sub, mid)
    assert (manifest.times_used, manifest.ref_count) == (2, 2)
    assert api.get(f"/api/manifests/{mid}").json["times_used"] == 2


def test_a_project_update_answers_what_it_wrote_even_if_deleted_right_after(carol, faults):
    """Holding every project read of the update (the one before its write, and any
    after) lets a delete land between its write and a read-back; the answer is
    the written project, never a 500."""
    api = carol
    mid = api.manifest()["manifest_id"]
    pid = api.project(title="Film", manifest_id=mid)["project_id"]
    rule = faults.inject(
        service="dynamodb", operation="GetItem", match=pid, fault="latency", delay=hold_seconds(), times=2
    )
    updating = in_background(lambda: api.put(f"/api/projects/{pid}", {"title": "Renamed"}))
    if wait_for_hits(faults, rule, hits=2, unless=updating):
        faults.clear()
        assert api.delete(f"/api/projects/{pid}").status == 200
    r = updating.result()
    assert r.status == 200, r
    assert r.json["title"] == "Renamed"


# --- the manifest thumbnail and the updated_at order ------------------------------------


def _key(url: str | None) -> str | None:
    return urlsplit(url).path if url else None


def test_two_overlapping_reorders_leave_the_thumbnail_on_the_first_image(carol, faults):
    """Reorder 1 computes its thumbnail and its write is held; reorder 2 puts the
    original first image back first and finds the stored thumbnail already right.
    Reorder 1's stale write must then fail its revision condition, which only
    happens because reorder 2's asset write moved the manifest's revision."""
    api = carol
    mid = api.manifest()["manifest_id"]
    x = api.asset(mid, name="x")["asset_id"]
    y = api.asset(mid, name="y")["asset_id"]
    assert api.put(f"/api/assets/{y}", {"sort_order": 1}).status == 200
    for aid in (x, y):
        assert upload(api, aid, image_bytes("image/png", (40 + len(aid), 30)))[1].status == 200
    detail = api.get(f"/api/manifests/{mid}").json
    first = {a["asset_id"]: _key(a["thumbnail_url"]) for a in detail["assets"]}
    assert _key(detail["thumbnail_url"]) == first[x]

    rule = hold(faults, "UpdateItem", mid)  # reorder 1's thumbnail write
    moving_x = in_background(lambda: api.put(f"/api/assets/{x}", {"sort_order": 2}))
    held = wait_for_hits(faults, rule)
    assert while_held(held, lambda: api.put(f"/api/assets/{y}", {"sort_order": 3})).status == 200
    assert moving_x.result().status == 200

    detail = api.get(f"/api/manifests/{mid}").json
    assert [a["asset_id"] for a in detail["assets"]] == [x, y]
    assert _key(detail["thumbnail_url"]) == first[x]


def test_a_completed_upload_moves_the_manifest_up_the_updated_at_order(carol):
    api = carol
    older = api.manifest(name="older")["manifest_id"]
    aid = api.asset(older)["asset_id"]
    newer = api.manifest(name="newer")["manifest_id"]
    assert upload(api, aid, image_bytes())[1].status == 200
    listed = api.get("/api/manifests?sort_by=updated_at&sort_order=desc").json
    assert [m["manifest_id"] for m in listed] == [older, newer]
    by_status = api.get("/api/manifests?sort_by=updated_at&sort_order=desc&status=DRAFT").json
    assert [m["manifest_id"] for m in by_status] == [older, newer]


# --- ids in bodies and idempotency scopes are canonical ----------------------------------


def test_an_upper_case_manifest_id_in_a_body_names_the_same_manifest(owner, carol):
    sub, api = owner, carol
    mid = api.manifest()["manifest_id"]
    project = api.post("/api/projects", {"title": "Film", "manifest_id": mid.upper()})
    assert project.status == 201, project
    assert project.json["manifest_id"] == mid
    assert stored_manifest(sub, mid).ref_count == 1
    assert api.delete(f"/api/manifests/{mid}").status == 409
    listed = api.get(f"/api/manifests/{mid}/projects").json
    assert [p["project_id"] for p in listed] == [project.json["project_id"]]


def test_an_idempotency_key_covers_a_path_however_its_id_is_cased(carol):
    api = carol
    mid = api.manifest()["manifest_id"]
    key = {"Idempotency-Key": str(uuid.uuid4())}
    body = {"name": "Hero", "asset_type": "CHARACTER"}
    first = api.post(f"/api/manifests/{mid}/assets", body, headers=key)
    again = api.post(f"/api/manifests/{mid.upper()}/assets", body, headers=key)
    assert first.status == again.status == 201
    assert again.json["asset_id"] == first.json["asset_id"]
    assert len(api.get(f"/api/manifests/{mid}/assets").json) == 1


# --- the SQS handler ---------------------------------------------------------------------


def test_one_bad_upload_event_fails_alone_and_the_others_are_processed(carol, chalice_client):
    from chalicelib.storage import storage
    from tests.functional.test_uploads import put, request_upload

    api = carol
    mid = api.manifest()["manifest_id"]
    aid = api.asset(mid)["asset_id"]
    data = image_bytes()
    ticket = request_upload(api, aid, data)
    put(ticket, data)
    key = ticket["url"].split("?")[0].split(storage().bucket + "/", 1)[1]
    good = {"Records": [{"eventName": "ObjectCreated:Put", "s3": {"object": {"key": key}}}]}
    event = chalice_client.events.generate_sqs_event(
        message_bodies=["not json", json.dumps(good), json.dumps({"Records": [{"s3": {}}]})],
        queue_name="vidpipe-upload-events",
    )
    for i, record in enumerate(event["Records"]):
        record["messageId"] = f"m{i}"
    answer = chalice_client.lambda_.invoke("on_upload_event", event).payload
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m0"}, {"itemIdentifier": "m2"}]}
    assert api.get(f"/api/assets/{aid}").json["reference_image_url"]
