"""Representative flows through the real app, for the IAM recorder and the
CloudFormation smoke test: every route family, the S3 event handler and both
scheduled sweeps, each driven the way a client (or AWS) drives it.

A new feature that calls AWS differently joins the policy check by adding its
flow to FLOWS (and, for a new kind of AWS call, one line in tests/infra/iam.py).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from tests.conftest import ROOT, Api, token_for
from tests.imagefactory import image_bytes
from tests.infra.recorder import Recorder

ISOLATED_STAGE = "infra-isolated"


@contextmanager
def isolated_stage(
    workdir: Path, prefix: str, provision: bool = True
) -> Iterator[tuple[Any, dict[str, str]]]:
    """The local stage with its own TABLE_PREFIX, bucket and queue name, as a
    Chalice stage of a copy of the project's config: requests through the
    returned `chalice.test.Client` and calls made here in between agree on names.

    Its tables and bucket are created from the models (`provision=True`) or
    already exist (created by the CloudFormation stack under test).
    """
    from chalice.test import Client

    from app import app

    cfg = json.loads((ROOT / ".chalice" / "config.json").read_text())
    local = cfg["stages"]["local"]
    env = {
        **cfg.get("environment_variables", {}),
        **local["environment_variables"],
        "TABLE_PREFIX": prefix,
        "BUCKET_NAME": f"{prefix}-assets",
        "UPLOAD_QUEUE_NAME": f"{prefix}-upload-events",
    }
    cfg["stages"][ISOLATED_STAGE] = {**local, "environment_variables": env}
    (workdir / ".chalice").mkdir(parents=True, exist_ok=True)
    (workdir / ".chalice" / "config.json").write_text(json.dumps(cfg))
    from infra.template import Stage, stage_environment

    with stage_environment(Stage(ISOLATED_STAGE, env)):
        if provision:
            from chalicelib import provisioning

            provisioning.ensure_all()
        with Client(app, stage_name=ISOLATED_STAGE, project_dir=str(workdir)) as client:
            yield client, env


@dataclass
class FlowContext:
    client: Any
    env: dict[str, str]
    recorder: Recorder

    def user(self) -> Api:
        return Api(self.client, token_for(f"infra-{uuid.uuid4()}", self.env["JWT_SECRET"]))

    def ok(self, response: Any, status: int = 200) -> Any:
        assert response.status == status, response
        return response.json if response.text else None

    def invoke(self, function: str, event: dict[str, Any]) -> Any:
        return self.client.lambda_.invoke(function, event).payload

    def scheduled_event(self) -> dict[str, Any]:
        return self.client.events.generate_cw_event(
            source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
        )


def health(ctx: FlowContext) -> None:
    ctx.ok(Api(ctx.client, None).get("/api/health"))


def manifests_and_assets(ctx: FlowContext) -> None:
    u = ctx.user()
    key = {"Idempotency-Key": str(uuid.uuid4())}
    m = ctx.ok(u.post("/api/manifests", {"name": "Kit"}, headers=key), 201)
    mid = m["manifest_id"]
    assert ctx.ok(u.post("/api/manifests", {"name": "Kit"}, headers=key), 201)["manifest_id"] == mid
    failing = {"Idempotency-Key": str(uuid.uuid4())}  # a failed create frees its key
    body = {"name": "Hero", "asset_type": "CHARACTER"}
    assert u.post(f"/api/manifests/{uuid.uuid4()}/assets", body, headers=failing).status == 404
    ctx.ok(u.get(f"/api/manifests/{mid}"))
    for query in (
        "",
        "?sort_by=name&sort_order=asc&limit=1",
        "?category=CUSTOM",
        "?status=DRAFT",
        "?category=CUSTOM&status=DRAFT&sort_by=times_used",
    ):
        ctx.ok(u.get(f"/api/manifests{query}"))
    etag = u.get(f"/api/manifests/{mid}").headers["etag"]
    ctx.ok(
        u.put(
            f"/api/manifests/{mid}", {"name": "Kit 2", "category": "CHARACTERS"}, headers={"If-Match": etag}
        )
    )
    a = u.asset(mid)
    aid = a["asset_id"]
    ctx.ok(u.get(f"/api/assets/{aid}"))
    ctx.ok(u.get(f"/api/manifests/{mid}/assets/{aid}"))
    ctx.ok(u.get(f"/api/manifests/{mid}/assets"))
    ctx.ok(u.put(f"/api/assets/{aid}", {"asset_type": "ENVIRONMENT", "name": "Set"}))
    second = u.asset(mid, name="Villain")
    ctx.ok(u.delete(f"/api/assets/{second['asset_id']}"))
    copy = ctx.ok(u.post(f"/api/manifests/{mid}/duplicate"), 201)
    ctx.ok(u.get(f"/api/manifests/{copy['manifest_id']}"))
    ctx.ok(u.delete(f"/api/manifests/{copy['manifest_id']}"))


def projects(ctx: FlowContext) -> None:
    u = ctx.user()
    first = u.manifest()["manifest_id"]
    other = u.manifest()["manifest_id"]
    p = u.project(title="Trailer", manifest_id=first)
    pid = p["project_id"]
    ctx.ok(u.get(f"/api/projects/{pid}"))
    ctx.ok(u.get("/api/projects?sort_by=created_at"))
    ctx.ok(u.get("/api/projects"))
    ctx.ok(u.get(f"/api/manifests/{first}/projects"))
    assert u.delete(f"/api/manifests/{first}").status == 409  # referenced: lists the projects
    ctx.ok(u.put(f"/api/projects/{pid}", {"manifest_id": other}))
    ctx.ok(u.put(f"/api/projects/{pid}", {"manifest_version": 1}))
    ctx.ok(u.delete(f"/api/projects/{pid}"))
    ctx.ok(u.delete(f"/api/manifests/{first}"))


def _upload_ticket(u: Api, asset_id: str, data: bytes, content_type: str = "image/png") -> dict[str, Any]:
    r = u.post(f"/api/assets/{asset_id}/upload-url", {"content_type": content_type, "size": len(data)})
    assert r.status == 201, r
    ticket: dict[str, Any] = r.json
    return ticket


def _put(ticket: dict[str, Any], data: bytes) -> None:
    r = requests.put(ticket["url"], data=data, headers=ticket["headers"], timeout=30)
    assert r.status_code == 200, r.text


def uploads(ctx: FlowContext) -> None:
    u = ctx.user()
    mid = u.manifest()["manifest_id"]
    aid = u.asset(mid)["asset_id"]
    data = image_bytes("image/png", (64, 48))
    # presigned PUT, completed by the client (first before the bytes arrive)
    ticket = _upload_ticket(u, aid, data)
    assert u.post(f"/api/assets/{aid}/upload-complete", {"upload_id": ticket["upload_id"]}).status == 422
    _put(ticket, data)
    attached = ctx.ok(u.post(f"/api/assets/{aid}/upload-complete", {"upload_id": ticket["upload_id"]}))
    assert attached["reference_image_url"]
    ctx.ok(u.get(f"/api/manifests/{mid}"))
    # a replacement nobody completes: the S3 event (via SQS) attaches it
    jpeg = image_bytes("image/jpeg", (40, 40))
    ticket = _upload_ticket(u, aid, jpeg, "image/jpeg")
    _put(ticket, jpeg)
    key = ticket["url"].split("?")[0].split(f"/{ctx.env['BUCKET_NAME']}/", 1)[1]
    body = {"Records": [{"eventName": "ObjectCreated:Put", "s3": {"object": {"key": key}}}]}
    event = ctx.client.events.generate_sqs_event(
        message_bodies=[json.dumps(body)], queue_name=ctx.env["UPLOAD_QUEUE_NAME"]
    )
    ctx.invoke("on_upload_event", event)
    # a refused upload is deleted
    bad = _upload_ticket(u, aid, b"not an image")
    _put(bad, b"not an image")
    assert u.post(f"/api/assets/{aid}/upload-complete", {"upload_id": bad["upload_id"]}).status == 422
    # multipart through the API
    boundary = "----infra"
    raw = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    other = u.asset(mid, name="Other")["asset_id"]
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    ctx.ok(u.post(f"/api/assets/{other}/upload", raw=raw, headers=headers))
    # shared images: a duplicate, then deleting assets releases the objects
    copy = ctx.ok(u.post(f"/api/manifests/{mid}/duplicate"), 201)
    ctx.ok(u.delete(f"/api/assets/{aid}"))
    for asset in ctx.ok(u.get(f"/api/manifests/{copy['manifest_id']}"))["assets"]:
        ctx.ok(u.delete(f"/api/assets/{asset['asset_id']}"))


def sweeps(ctx: FlowContext) -> None:
    """Both scheduled functions, each with something expired to clean up."""
    from chalicelib.models import AssetModel, ManifestModel, UploadModel
    from chalicelib.repositories.assets import AssetRepository
    from chalicelib.repositories.base import utcnow
    from chalicelib.repositories.manifests import ManifestRepository

    u = ctx.user()
    mid = u.manifest()["manifest_id"]
    aid = u.asset(mid)["asset_id"]
    ticket = _upload_ticket(u, aid, image_bytes())
    past = (datetime.now(UTC) - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    with ctx.recorder.paused():  # setup: what a crashed duplicate and an idle client leave behind
        UploadModel(ticket["upload_id"]).update(actions=[UploadModel.expires_at.set(past)])
        now = utcnow()
        owner = f"infra-{uuid.uuid4()}"
        pending = ManifestModel(
            owner, str(uuid.uuid4()), name="half-copied", category="CUSTOM", status="DRAFT",
            created_at=now, updated_at=now,
        )  # fmt: skip
        manifests = ManifestRepository()
        manifests.add_pending(pending, past)
        copied = AssetModel(
            pending.manifest_id, str(uuid.uuid4()), owner_id=owner, asset_type="CHARACTER",
            name="x", manifest_tag="CHAR_01", created_at=now, updated_at=now,
        )  # fmt: skip
        AssetRepository(manifests).put_many([copied])
    assert ctx.invoke("sweep_expired_uploads", ctx.scheduled_event())["swept"] >= 1
    assert ctx.invoke("sweep_abandoned_duplicates", ctx.scheduled_event())["swept"] >= 1


def versions(ctx: FlowContext) -> None:
    """Freeze (one attempt losing its race to an asset update, forced with the
    fault hook, so its body is deleted), history, a version, diff, restore,
    duplicate of a version, pin and the pinned read."""
    from faults import FaultClient

    from chalicelib import config
    from tests.functional.faultplay import in_background, wait_for_hits

    u = ctx.user()
    mid = u.manifest()["manifest_id"]
    aid = u.asset(mid)["asset_id"]
    faults = FaultClient(str(config.dynamodb_endpoint()))
    rule = faults.inject(service="s3", operation="PutObject", match=mid, fault="latency", delay=9.0)

    def update_while_held() -> int:
        held = wait_for_hits(faults, rule)
        status = u.put(f"/api/assets/{aid}", {"description": "during the freeze"}).status
        held.release()
        return status

    # The recorder sees the calls of this thread: the freeze runs here, the update beside it.
    updating = in_background(update_while_held)
    assert ctx.ok(u.post(f"/api/manifests/{mid}/versions"), 201)["version"] == 1
    assert updating.result(timeout=120) == 200
    ctx.ok(u.put(f"/api/manifests/{mid}", {"name": "Kit v2"}))
    ctx.ok(u.get(f"/api/manifests/{mid}/versions"))
    ctx.ok(u.get(f"/api/manifests/{mid}/versions/1"))
    ctx.ok(u.get(f"/api/manifests/{mid}/diff?from=1&to=current"))
    ctx.ok(u.post(f"/api/manifests/{mid}/versions/1/restore"))
    copy = ctx.ok(u.post(f"/api/manifests/{mid}/duplicate?version=1"), 201)
    p = u.project(manifest_id=mid, manifest_version=1)
    ctx.ok(u.get(f"/api/projects/{p['project_id']}/manifest"))
    ctx.ok(u.delete(f"/api/projects/{p['project_id']}"))
    ctx.ok(u.delete(f"/api/manifests/{copy['manifest_id']}"))


FLOWS: tuple[Callable[[FlowContext], None], ...] = (
    health,
    manifests_and_assets,
    projects,
    uploads,
    sweeps,
    versions,
)


def run_flows(ctx: FlowContext) -> None:
    for flow in FLOWS:
        ctx.recorder.flow = flow.__name__
        flow(ctx)
    ctx.recorder.flow = ""
