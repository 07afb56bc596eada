"""Every write reports its true outcome: a lost answer, botocore's re-send of a
write that already committed, or a dependency that does not answer never makes
a client hear the opposite of what was stored.

Faults come from the local backend's hook (scripts/faults.py), matched on each
test's own ids so they never touch another request.
"""

from __future__ import annotations

import uuid
from typing import Any

from chalicelib.models import AssetLocatorModel, ProjectModel
from tests.functional.faultplay import lose_answers, stored_assets, stored_manifest


def assert_unavailable(r: Any) -> None:
    assert r.status == 503, r
    assert r.headers["retry-after"].isdigit()
    assert r.json["detail"]
    assert "Traceback" not in r.text


# --- lost answers: the write committed, the client is told so ------------------------


def test_an_asset_whose_transaction_answer_was_lost_is_reported_created_and_stored_once(owner, carol, faults):
    sub, api = owner, carol
    mid = api.manifest()["manifest_id"]
    lose_answers(faults, "TransactWriteItems", mid)
    r = api.post(f"/api/manifests/{mid}/assets", {"name": "Hero", "asset_type": "CHARACTER"})
    assert r.status == 201, r
    assets = stored_assets(mid)
    assert [a.asset_id for a in assets] == [r.json["asset_id"]]
    assert stored_manifest(sub, mid).asset_count == 1


def test_an_asset_whose_transaction_answers_were_all_lost_is_resolved_by_reading_it_back(
    owner, carol, faults
):
    """Every botocore attempt loses its answer: the app reads its own write."""
    sub, api = owner, carol
    mid = api.manifest()["manifest_id"]
    lose_answers(faults, "TransactWriteItems", mid, every_attempt=True)
    r = api.post(f"/api/manifests/{mid}/assets", {"name": "Hero", "asset_type": "CHARACTER"})
    assert r.status == 201, r
    assert [a.asset_id for a in stored_assets(mid)] == [r.json["asset_id"]]
    assert stored_manifest(sub, mid).asset_count == 1


def test_a_tag_allocation_whose_answer_was_lost_still_creates_one_asset(owner, carol, faults):
    sub, api = owner, carol
    mid = api.manifest()["manifest_id"]
    lose_answers(faults, "UpdateItem", mid)
    r = api.post(f"/api/manifests/{mid}/assets", {"name": "Hero", "asset_type": "CHARACTER"})
    assert r.status == 201, r
    assert [a.asset_id for a in stored_assets(mid)] == [r.json["asset_id"]]
    assert stored_manifest(sub, mid).asset_count == 1


def test_a_project_whose_answer_was_lost_is_reported_created_and_counted_once(owner, carol, faults):
    sub, api = owner, carol
    mid = api.manifest()["manifest_id"]
    title = f"Film {uuid.uuid4()}"  # only the attach transaction carries it (not the pin's freeze)
    lose_answers(faults, "TransactWriteItems", title, every_attempt=True)
    r = api.post("/api/projects", {"title": title, "manifest_id": mid})
    assert r.status == 201, r
    projects = list(ProjectModel.query(sub, consistent_read=True))
    assert [p.project_id for p in projects] == [r.json["project_id"]]
    manifest = stored_manifest(sub, mid)
    assert (manifest.ref_count, manifest.times_used) == (1, 1)


def test_a_deleted_asset_whose_answer_was_lost_is_reported_deleted(owner, carol, faults):
    """botocore gives up on 500s after the delete committed; the app's own retry
    carries the same ClientRequestToken and is answered with the first success."""
    sub, api = owner, carol
    mid = api.manifest()["manifest_id"]
    aid = api.asset(mid)["asset_id"]
    lose_answers(faults, "TransactWriteItems", aid, every_attempt=True, status=500)
    r = api.delete(f"/api/assets/{aid}")
    assert r.status == 200, r
    assert stored_assets(mid) == []
    assert stored_manifest(sub, mid).asset_count == 0
    assert AssetLocatorModel.count(aid) == 0


def test_a_project_update_whose_answers_were_all_lost_is_reported_done(owner, carol, faults):
    sub, api = owner, carol
    first = api.manifest()["manifest_id"]
    second = api.manifest()["manifest_id"]
    pid = api.project(title="Film", manifest_id=first)["project_id"]
    lose_answers(faults, "TransactWriteItems", pid, every_attempt=True)
    r = api.put(f"/api/projects/{pid}", {"manifest_id": second})
    assert r.status == 200, r
    assert r.json["manifest_id"] == second
    assert stored_manifest(sub, first).ref_count == 0
    assert stored_manifest(sub, second).ref_count == 1


def test_a_project_delete_whose_answer_was_lost_is_reported_done(owner, carol, faults):
    sub, api = owner, carol
    mid = api.manifest()["manifest_id"]
    pid = api.project(title="Film", manifest_id=mid)["project_id"]
    lose_answers(faults, "TransactWriteItems", pid, every_attempt=True, status=500)
    r = api.delete(f"/api/projects/{pid}")
    assert r.status == 200, r
    assert api.get(f"/api/projects/{pid}").status == 404
    assert stored_manifest(sub, mid).ref_count == 0


def test_a_manifest_update_whose_answer_was_lost_is_reported_done(owner, carol, faults):
    """botocore re-sends the committed UpdateItem, which then fails its own
    If-Match condition: the write marker says it was ours."""
    sub, api = owner, carol
    created = api.post("/api/manifests", {"name": "Kit"})
    mid = created.json["manifest_id"]
    lose_answers(faults, "UpdateItem", mid)
    r = api.put(f"/api/manifests/{mid}", {"name": "Renamed"}, headers={"If-Match": created.headers["etag"]})
    assert r.status == 200, r
    assert r.json["name"] == "Renamed"
    assert stored_manifest(sub, mid).name == "Renamed"


def test_a_manifest_delete_whose_answer_was_lost_is_reported_done(owner, carol, faults):
    sub, api = owner, carol
    mid = api.manifest()["manifest_id"]
    lose_answers(faults, "UpdateItem", mid)
    r = api.delete(f"/api/manifests/{mid}")
    assert r.status == 200, r
    assert stored_manifest(sub, mid).deleted_at


def test_an_asset_update_whose_answer_was_lost_is_reported_done(carol, faults):
    api = carol
    mid = api.manifest()["manifest_id"]
    created = api.post(f"/api/manifests/{mid}/assets", {"name": "Hero", "asset_type": "CHARACTER"})
    aid = created.json["asset_id"]
    lose_answers(faults, "UpdateItem", aid)
    r = api.put(f"/api/assets/{aid}", {"name": "Villain"}, headers={"If-Match": created.headers["etag"]})
    assert r.status == 200, r
    assert r.json["name"] == "Villain"
    assert [a.name for a in stored_assets(mid)] == ["Villain"]


def test_a_reorder_whose_answers_were_all_lost_is_reported_done(carol, faults):
    api = carol
    mid = api.manifest()["manifest_id"]
    aid = api.asset(mid)["asset_id"]
    lose_answers(faults, "TransactWriteItems", aid, every_attempt=True)
    r = api.put(f"/api/assets/{aid}", {"sort_order": 7})
    assert r.status == 200, r
    assert r.json["sort_order"] == 7
    assert [a.sort_order for a in stored_assets(mid)] == [7]


# --- dependencies that fail: 503 + Retry-After, and the answer matches storage ------


def test_a_table_that_keeps_throttling_answers_503_and_stores_nothing(owner, carol, faults):
    sub, api = owner, carol
    mid = api.manifest()["manifest_id"]
    faults.inject(service="dynamodb", operation="UpdateItem", match=mid, fault="throttle", times=None)
    r = api.post(f"/api/manifests/{mid}/assets", {"name": "Hero", "asset_type": "CHARACTER"})
    assert_unavailable(r)
    assert stored_assets(mid) == [] and stored_manifest(sub, mid).asset_count == 0


def test_a_transaction_that_never_gets_an_answer_is_503_and_stores_nothing(owner, carol, faults):
    """Connection resets (no response at all) used to crash on PynamoDB's
    `cause_response_code` with AttributeError and answer 500."""
    sub, api = owner, carol
    mid = api.manifest()["manifest_id"]
    faults.inject(service="dynamodb", operation="TransactWriteItems", match=mid, fault="reset", times=None)
    r = api.post(f"/api/manifests/{mid}/assets", {"name": "Hero", "asset_type": "CHARACTER"})
    assert_unavailable(r)
    assert stored_assets(mid) == [] and stored_manifest(sub, mid).asset_count == 0


def test_transaction_conflicts_beyond_the_retries_are_503_and_store_nothing(owner, carol, faults):
    sub, api = owner, carol
    mid = api.manifest()["manifest_id"]
    faults.inject(
        service="dynamodb",
        operation="TransactWriteItems",
        match=mid,
        fault="throttle",
        code="TransactionConflict",
        times=None,
    )
    r = api.post(f"/api/manifests/{mid}/assets", {"name": "Hero", "asset_type": "CHARACTER"})
    assert_unavailable(r)
    assert stored_assets(mid) == [] and stored_manifest(sub, mid).asset_count == 0


def test_a_read_that_never_gets_an_answer_is_503(carol, faults):
    api = carol
    mid = api.manifest()["manifest_id"]
    faults.inject(service="dynamodb", operation="GetItem", match=mid, fault="reset", times=None)
    assert_unavailable(api.get(f"/api/manifests/{mid}"))


def test_one_server_error_is_retried_by_botocore_and_the_write_succeeds_once(owner, carol, faults):
    sub, api = owner, carol
    mid = api.manifest()["manifest_id"]
    faults.inject(service="dynamodb", operation="TransactWriteItems", match=mid, fault="error_before")
    r = api.post(f"/api/manifests/{mid}/assets", {"name": "Hero", "asset_type": "CHARACTER"})
    assert r.status == 201, r
    assert len(stored_assets(mid)) == 1 and stored_manifest(sub, mid).asset_count == 1


def test_an_unreachable_bucket_answers_503(carol, faults):
    api = carol
    mid = api.manifest()["manifest_id"]
    aid = api.asset(mid)["asset_id"]
    ticket = api.post(f"/api/assets/{aid}/upload-url", {"content_type": "image/png", "size": 100}).json
    key = ticket["url"].split("?")[0].rsplit("/", 1)[-1]
    faults.inject(
        service="s3", operation="GetObject", match=key, fault="error_before", status=503, times=None
    )
    r = api.post(f"/api/assets/{aid}/upload-complete", {"upload_id": ticket["upload_id"]})
    assert_unavailable(r)
    assert stored_assets(mid)[0].reference_image_key is None


def test_an_unavailable_idempotency_store_answers_503_and_creates_nothing(carol, faults):
    api = carol
    faults.inject(service="dynamodb", operation="PutItem", match="-idempotency", fault="reset", times=None)
    r = api.post("/api/manifests", {"name": "Kit"}, headers={"Idempotency-Key": str(uuid.uuid4())})
    assert_unavailable(r)
    assert api.get("/api/manifests").json == []


def test_a_create_whose_idempotency_record_could_not_be_completed_still_reports_the_create(carol, faults):
    """The manifest is stored; only Powertools' "completed" record failed. A 503
    here would tell the client nothing was created."""
    api = carol
    faults.inject(service="dynamodb", operation="UpdateItem", match="-idempotency", fault="reset", times=None)
    r = api.post("/api/manifests", {"name": "Kit"}, headers={"Idempotency-Key": str(uuid.uuid4())})
    assert r.status == 201, r
    assert [m["manifest_id"] for m in api.get("/api/manifests").json] == [r.json["manifest_id"]]


# --- cost -------------------------------------------------------------------------------


def test_creating_an_asset_takes_two_dynamodb_calls(carol):
    """The tag allocation (UpdateItem, which also checks live and room) and the
    asset transaction: no GetItem of the manifest first."""
    from bench.instrument import DynamoDBMeter

    api = carol
    mid = api.manifest()["manifest_id"]
    api.asset(mid)  # the clients exist now
    meter = DynamoDBMeter()
    meter.attach_all()
    meter.reset()
    api.asset(mid, name="measured")
    used = meter.reset()
    assert dict(used.calls) == {"UpdateItem": 1, "TransactWriteItems": 1}


def test_an_upload_completion_whose_answers_were_all_lost_is_reported_attached(carol, faults):
    from chalicelib.models import ImageRefModel, UploadModel
    from tests.functional.test_uploads import complete, put, request_upload
    from tests.imagefactory import image_bytes

    api = carol
    mid = api.manifest()["manifest_id"]
    aid = api.asset(mid)["asset_id"]
    data = image_bytes()
    ticket = request_upload(api, aid, data)
    put(ticket, data)
    lose_answers(faults, "TransactWriteItems", ticket["upload_id"], every_attempt=True)
    r = complete(api, aid, ticket["upload_id"])
    assert r.status == 200, r
    assert r.json["reference_image_url"]
    (asset,) = stored_assets(mid)
    assert UploadModel.get(ticket["upload_id"]).status == "COMPLETED"
    assert ImageRefModel.get(asset.reference_image_key).ref_count == 1


def test_a_manifest_whose_put_answer_was_lost_is_reported_created_once(carol, faults):
    api = carol
    name = f"Kit {uuid.uuid4()}"
    lose_answers(faults, "PutItem", name)
    r = api.post("/api/manifests", {"name": name})
    assert r.status == 201, r
    assert [m["manifest_id"] for m in api.get("/api/manifests").json] == [r.json["manifest_id"]]


def test_an_upload_ticket_whose_put_answer_was_lost_is_issued(carol, faults):
    api = carol
    mid = api.manifest()["manifest_id"]
    aid = api.asset(mid)["asset_id"]
    lose_answers(faults, "PutItem", aid)
    r = api.post(f"/api/assets/{aid}/upload-url", {"content_type": "image/png", "size": 100})
    assert r.status == 201, r
