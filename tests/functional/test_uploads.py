"""Reference image uploads: presigned PUT to S3 (moto over HTTP), then verification."""

from __future__ import annotations

import io
import uuid

import pytest
import requests
from PIL import Image

from chalicelib.storage import storage
from tests.imagefactory import decompression_bomb_png, image_bytes

MiB = 1024 * 1024


def request_upload(api, asset_id, data, content_type="image/png", size=None):
    r = api.post(
        f"/api/assets/{asset_id}/upload-url",
        {"content_type": content_type, "size": len(data) if size is None else size},
    )
    assert r.status == 201, r
    return r.json


def put(ticket, data):
    """PUT like a client that ignores the declared length: moto accepts it, as
    it accepts anything, so what gets attached depends on our verification."""
    headers = {"Content-Type": ticket["headers"]["Content-Type"]}
    r = requests.put(ticket["url"], data=data, headers=headers, timeout=30)
    assert r.status_code == 200, r.text


def complete(api, asset_id, upload_id):
    return api.post(f"/api/assets/{asset_id}/upload-complete", {"upload_id": upload_id})


def upload(api, asset_id, data, content_type="image/png"):
    ticket = request_upload(api, asset_id, data, content_type)
    put(ticket, data)
    return ticket, complete(api, asset_id, ticket["upload_id"])


def fetch(url):
    r = requests.get(url, timeout=30)
    assert r.status_code == 200, r.text
    return r.content


@pytest.fixture
def asset(alice):
    mid = alice.manifest()["manifest_id"]
    return alice.asset(mid)


@pytest.mark.parametrize("content_type", ["image/png", "image/jpeg", "image/webp"])
def test_a_verified_upload_attaches_image_and_thumbnail(alice, asset, content_type):
    data = image_bytes(content_type, (900, 600))
    _, r = upload(alice, asset["asset_id"], data, content_type)
    assert r.status == 200, r
    body = r.json
    assert fetch(body["reference_image_url"]) == data
    thumb = Image.open(io.BytesIO(fetch(body["thumbnail_url"])))
    assert thumb.format == "WEBP"
    assert max(thumb.size) == 512
    detail = alice.get(f"/api/manifests/{asset['manifest_id']}").json
    assert detail["assets"][0]["reference_image_url"]
    assert detail["thumbnail_url"], "the manifest shows its first asset image"


def test_the_upload_ticket_names_the_exact_headers_to_send(alice, asset):
    ticket = request_upload(alice, asset["asset_id"], b"x" * 100)
    assert ticket["method"] == "PUT"
    assert ticket["headers"] == {"Content-Type": "image/png", "Content-Length": "100"}
    assert ticket["expires_at"].endswith("Z")
    uuid.UUID(ticket["upload_id"])


def test_other_content_types_are_refused_before_signing(alice, asset):
    r = alice.post(f"/api/assets/{asset['asset_id']}/upload-url", {"content_type": "image/gif", "size": 10})
    assert r.status == 415


@pytest.mark.parametrize(("size", "status"), [(10 * MiB + 1, 413), (0, 422), (-5, 422)])
def test_declared_sizes_outside_the_limit_are_refused(alice, asset, size, status):
    r = alice.post(f"/api/assets/{asset['asset_id']}/upload-url", {"content_type": "image/png", "size": size})
    assert r.status == status


def test_mismatched_magic_bytes_are_rejected_and_deleted(alice, asset):
    data = image_bytes("image/jpeg")
    ticket = request_upload(alice, asset["asset_id"], data, "image/png")
    put(ticket, data)
    r = complete(alice, asset["asset_id"], ticket["upload_id"])
    assert r.status == 422
    assert "image/jpeg" in r.json["detail"]
    key = ticket["url"].split("?")[0].split(storage().bucket + "/", 1)[1]
    assert storage().size_of(key) is None
    assert alice.get(f"/api/assets/{asset['asset_id']}").json["reference_image_url"] is None


def test_a_stored_size_other_than_declared_is_rejected(alice, asset):
    data = image_bytes("image/png")
    ticket = request_upload(alice, asset["asset_id"], data, size=len(data) + 10)
    put(ticket, data)  # moto does not enforce the signed Content-Length; we do
    r = complete(alice, asset["asset_id"], ticket["upload_id"])
    assert r.status == 422
    assert "declared" in r.json["detail"]


def test_a_file_over_10_mib_is_rejected_even_if_declared_smaller(alice, asset):
    data = image_bytes("image/png")
    big = data + b"\x00" * (10 * MiB + 1 - len(data))
    ticket = request_upload(alice, asset["asset_id"], data)
    put(ticket, big)
    r = complete(alice, asset["asset_id"], ticket["upload_id"])
    assert r.status == 422
    assert "larger" in r.json["detail"]


def test_an_empty_file_is_rejected(alice, asset):
    ticket = request_upload(alice, asset["asset_id"], b"x" * 10)
    put(ticket, b"")
    r = complete(alice, asset["asset_id"], ticket["upload_id"])
    assert r.status == 422


def test_a_truncated_image_is_rejected(alice, asset):
    data = image_bytes("image/png", (400, 400))[:-200]
    _, r = upload(alice, asset["asset_id"], data)
    assert r.status == 422
    assert "corrupt or truncated" in r.json["detail"]


def test_a_decompression_bomb_is_rejected_without_decoding_it(alice, asset):
    _, r = upload(alice, asset["asset_id"], decompression_bomb_png())
    assert r.status == 422
    assert "pixels" in r.json["detail"] or "bomb" in r.json["detail"]


def test_completing_before_the_bytes_arrive_keeps_the_ticket_open(alice, asset):
    data = image_bytes("image/png")
    ticket = request_upload(alice, asset["asset_id"], data)
    assert complete(alice, asset["asset_id"], ticket["upload_id"]).status == 422
    put(ticket, data)
    assert complete(alice, asset["asset_id"], ticket["upload_id"]).status == 200


def test_completing_twice_is_idempotent(alice, asset):
    ticket, first = upload(alice, asset["asset_id"], image_bytes("image/png"))
    second = complete(alice, asset["asset_id"], ticket["upload_id"])
    assert second.status == 200
    assert second.json["asset_id"] == first.json["asset_id"]
    assert fetch(second.json["reference_image_url"]) == fetch(first.json["reference_image_url"])


def test_uploading_to_another_owners_asset_is_404(alice, bob, asset):
    r = bob.post(f"/api/assets/{asset['asset_id']}/upload-url", {"content_type": "image/png", "size": 10})
    assert r.status == 404


def test_completing_someone_elses_upload_id_is_refused(alice, bob, asset):
    ticket = request_upload(alice, asset["asset_id"], image_bytes())
    put(ticket, image_bytes())
    bob_asset = bob.asset(bob.manifest()["manifest_id"])
    assert complete(bob, bob_asset["asset_id"], ticket["upload_id"]).status == 404
    assert complete(bob, asset["asset_id"], ticket["upload_id"]).status == 404
    assert complete(alice, asset["asset_id"], ticket["upload_id"]).status == 200


def test_an_upload_id_of_another_asset_is_refused(alice, asset):
    other = alice.asset(asset["manifest_id"], name="Other")
    ticket = request_upload(alice, asset["asset_id"], image_bytes())
    put(ticket, image_bytes())
    assert complete(alice, other["asset_id"], ticket["upload_id"]).status == 404


def test_replacing_an_image_keeps_the_old_one_until_the_new_one_is_verified(alice, asset):
    first = image_bytes("image/png", (100, 100))
    _, r1 = upload(alice, asset["asset_id"], first)
    old_url = r1.json["reference_image_url"]
    _, bad = upload(alice, asset["asset_id"], b"not an image at all")
    assert bad.status == 422
    assert fetch(alice.get(f"/api/assets/{asset['asset_id']}").json["reference_image_url"]) == first
    second = image_bytes("image/jpeg", (120, 80))
    _, r2 = upload(alice, asset["asset_id"], second, "image/jpeg")
    assert fetch(r2.json["reference_image_url"]) == second
    assert requests.get(old_url, timeout=10).status_code == 404, "the replaced object is deleted"


def test_a_duplicate_keeps_its_image_when_the_original_asset_is_deleted(alice, asset):
    data = image_bytes("image/png", (300, 200))
    upload(alice, asset["asset_id"], data)
    copy = alice.post(f"/api/manifests/{asset['manifest_id']}/duplicate").json
    assert alice.delete(f"/api/assets/{asset['asset_id']}").status == 200
    copied = alice.get(f"/api/manifests/{copy['manifest_id']}").json
    assert fetch(copied["assets"][0]["reference_image_url"]) == data
    assert fetch(copied["assets"][0]["thumbnail_url"])
    assert fetch(copied["thumbnail_url"])
    # and once the last asset showing it goes, the object goes too
    url = copied["assets"][0]["reference_image_url"]
    assert alice.delete(f"/api/assets/{copied['assets'][0]['asset_id']}").status == 200
    assert requests.get(url, timeout=10).status_code == 404


def test_the_manifest_thumbnail_follows_the_first_asset_image(alice, asset):
    mid = asset["manifest_id"]
    second = alice.asset(mid, name="Second")
    alice.put(f"/api/assets/{second['asset_id']}", {"sort_order": 5})
    upload(alice, second["asset_id"], image_bytes("image/png", (50, 50)))
    shown = alice.get(f"/api/manifests/{mid}").json["thumbnail_url"]
    assert shown and "/" + second["asset_id"] + "/" in shown
    upload(alice, asset["asset_id"], image_bytes("image/png", (60, 60)))
    listed = next(m for m in alice.get("/api/manifests").json if m["manifest_id"] == mid)
    assert "/" + asset["asset_id"] + "/" in listed["thumbnail_url"]
    alice.put(f"/api/assets/{asset['asset_id']}", {"sort_order": 9})
    assert "/" + second["asset_id"] + "/" in alice.get(f"/api/manifests/{mid}").json["thumbnail_url"]
    alice.put(f"/api/assets/{asset['asset_id']}", {"sort_order": -1})
    assert "/" + asset["asset_id"] + "/" in alice.get(f"/api/manifests/{mid}").json["thumbnail_url"]
    alice.delete(f"/api/assets/{asset['asset_id']}")
    assert "/" + second["asset_id"] + "/" in alice.get(f"/api/manifests/{mid}").json["thumbnail_url"]


def test_multipart_upload_takes_the_same_verification(alice, asset):
    data = image_bytes("image/png", (80, 80))
    boundary = "----vidpipe-boundary"
    body = (
        (
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="file"; filename="../../etc/passwd.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    r = alice.post(
        f"/api/assets/{asset['asset_id']}/upload",
        raw=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert r.status == 200, r
    assert fetch(r.json["reference_image_url"]) == data
    assert "passwd" not in r.json["reference_image_url"]
    bad = body.replace(data[:8], b"GIF89a\x00\x00")
    r = alice.post(
        f"/api/assets/{asset['asset_id']}/upload",
        raw=bad,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert r.status == 422


def test_multipart_upload_requires_multipart(alice, asset):
    r = alice.post(f"/api/assets/{asset['asset_id']}/upload", {"file": "x"})
    assert r.status == 415


def test_the_s3_event_handler_attaches_uploads_nobody_completed(alice, asset, chalice_client):
    import json

    data = image_bytes("image/webp", (70, 70))
    ticket = request_upload(alice, asset["asset_id"], data, "image/webp")
    put(ticket, data)
    key = ticket["url"].split("?")[0].split(storage().bucket + "/", 1)[1]
    s3_event = {
        "Records": [
            {
                "eventName": "ObjectCreated:Put",
                "s3": {"bucket": {"name": storage().bucket}, "object": {"key": key}},
            }
        ]
    }
    event = chalice_client.events.generate_sqs_event(
        message_bodies=[json.dumps(s3_event)], queue_name="vidpipe-upload-events"
    )
    chalice_client.lambda_.invoke("on_upload_event", event)
    assert fetch(alice.get(f"/api/assets/{asset['asset_id']}").json["reference_image_url"]) == data
    # the same event again, and the client's late completion, change nothing
    chalice_client.lambda_.invoke("on_upload_event", event)
    assert complete(alice, asset["asset_id"], ticket["upload_id"]).status == 200


def test_the_bucket_allows_the_web_apps_dev_origins(backend):
    rules = storage().cors_rules()
    origins = {o for rule in rules for o in rule["AllowedOrigins"]}
    assert {"http://localhost:5173", "http://127.0.0.1:5173"} <= origins
    assert all("ETag" in rule["ExposeHeaders"] for rule in rules)
    assert all({"PUT", "GET"} <= set(rule["AllowedMethods"]) for rule in rules)


def test_expired_uploads_are_refused_and_swept(alice, asset, chalice_client, monkeypatch):
    import time

    monkeypatch.setenv("UPLOAD_URL_TTL_SECONDS", "1")
    monkeypatch.setenv("UPLOAD_COMPLETE_WINDOW_SECONDS", "0")
    data = image_bytes("image/png")
    late = request_upload(alice, asset["asset_id"], data)
    abandoned = request_upload(alice, asset["asset_id"], data)
    put(late, data)
    put(abandoned, data)
    time.sleep(1.2)
    r = complete(alice, asset["asset_id"], late["upload_id"])
    assert r.status == 422 and "expired" in r.json["detail"]
    abandoned_key = abandoned["url"].split("?")[0].split(storage().bucket + "/", 1)[1]
    assert storage().size_of(abandoned_key) is not None
    tick = chalice_client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
    )
    result = chalice_client.lambda_.invoke("sweep_expired_uploads", tick).payload
    assert result["swept"] >= 1
    assert storage().size_of(abandoned_key) is None, "the abandoned object is deleted"
    assert complete(alice, asset["asset_id"], abandoned["upload_id"]).status == 422
    assert alice.get(f"/api/assets/{asset['asset_id']}").json["reference_image_url"] is None


# --- the verified object is immutable; completion tells the truth under races ------------


def _s3_event(key):
    import json

    return json.dumps(
        {
            "Records": [
                {
                    "eventName": "ObjectCreated:Put",
                    "s3": {"bucket": {"name": storage().bucket}, "object": {"key": key}},
                }
            ]
        }
    )


def test_the_presigned_put_cannot_change_an_image_once_it_is_attached(alice, asset, chalice_client):
    from tests.functional.stored import image_key_of

    data = image_bytes("image/png", (120, 90))
    ticket, r = upload(alice, asset["asset_id"], data)
    assert r.status == 200, r
    staging = ticket["url"].split("?")[0].split(storage().bucket + "/", 1)[1]
    attached = image_key_of(asset["asset_id"])
    assert staging.startswith("incoming/") and attached.startswith("images/")
    assert storage().size_of(staging) is None, "the staging object is deleted after completion"

    html = b"<html><script>alert(1)</script></html>".ljust(len(data), b" ")
    put(ticket, html)  # the old URL still accepts a PUT of the same length...
    served = requests.get(
        alice.get(f"/api/assets/{asset['asset_id']}").json["reference_image_url"], timeout=30
    )
    assert served.content == data  # ...but what is served is what was verified
    assert served.headers["Content-Type"] == "image/png"

    event = chalice_client.events.generate_sqs_event(
        message_bodies=[_s3_event(staging)], queue_name="vidpipe-upload-events"
    )
    chalice_client.lambda_.invoke("on_upload_event", event)
    assert storage().size_of(staging) is None, "a PUT after completion is discarded"
    assert fetch(alice.get(f"/api/assets/{asset['asset_id']}").json["reference_image_url"]) == data


def test_a_completion_overtaken_by_the_expiry_sweep_says_the_upload_expired(alice, asset, faults):
    """The completion has verified the bytes and is held before its attaching
    transaction; meanwhile the deadline passes and the sweep expires the ticket and
    deletes its objects. The transaction must then fail (ticket no longer PENDING:
    attach-exactly-once) and the client be told "expired", not "changed
    concurrently", with nothing attached or left behind."""
    from chalicelib import services
    from chalicelib.models import ImageRefModel, UploadModel
    from chalicelib.repositories.base import utcnow
    from tests.functional.stored import Background, hold_seconds, wait_for_hit

    data = image_bytes("image/png", (50, 50))
    ticket = request_upload(alice, asset["asset_id"], data)
    put(ticket, data)
    upload_id = ticket["upload_id"]
    hold = faults.inject(
        service="dynamodb",
        operation="TransactWriteItems",
        match=upload_id,
        fault="latency",
        delay=hold_seconds(),
    )
    completing = Background(lambda: complete(alice, asset["asset_id"], upload_id))
    wait_for_hit(faults, hold)

    # The deadline passes (after the completion took its clock reading), and the sweep runs.
    UploadModel(upload_id).update(actions=[UploadModel.expires_at.set(utcnow())])
    assert services.uploads().sweep_expired() >= 1
    faults.release(hold)  # the held call goes on now
    r = completing.result()

    assert r.status == 422, r
    assert "expired" in r.json["detail"]
    stored = UploadModel.get(upload_id, consistent_read=True)
    assert stored.status == "EXPIRED"
    assert alice.get(f"/api/assets/{asset['asset_id']}").json["reference_image_url"] is None
    assert ImageRefModel.count(stored.object_key, consistent_read=True) == 0
    for key in (stored.object_key, stored.thumbnail_key, stored.staging_key):
        assert storage().size_of(key) is None, key


def test_a_slower_completion_of_the_same_upload_never_replaces_the_attached_image(alice, asset, faults):
    """The S3 event's completion verified the first bytes and is held before writing
    the final object; the client then PUTs other (valid) bytes and completes. When
    the held write lands, the final object already exists: it is written once, so
    the attached image stays what the client's completion verified."""
    from chalicelib import services
    from tests.functional.stored import Background, hold_seconds, wait_for_hit

    first, second = image_bytes("image/png", (60, 40)), image_bytes("image/png", (40, 60))
    size = max(len(first), len(second))
    first, second = first.ljust(size, b"\0"), second.ljust(size, b"\0")  # bytes after IEND are ignored
    assert first != second
    ticket = request_upload(alice, asset["asset_id"], first)
    put(ticket, first)
    staging = ticket["url"].split("?")[0].split(storage().bucket + "/", 1)[1]
    final = "images/" + staging.removeprefix("incoming/")
    hold = faults.inject(
        service="s3", operation="PutObject", match=final, fault="latency", delay=hold_seconds("s3")
    )
    event = Background(lambda: services.uploads().handle_object_created(staging))
    wait_for_hit(faults, hold)

    put(ticket, second)
    r = complete(alice, asset["asset_id"], ticket["upload_id"])
    assert r.status == 200, r
    faults.release(hold)  # the held call goes on now
    assert event.result() == "attached"  # it answers with the asset as attached

    url = alice.get(f"/api/assets/{asset['asset_id']}").json["reference_image_url"]
    assert fetch(url) == second
