"""The hand-written `.chalice/policy-<stage>.json` grants exactly what the code uses.

The needs come from recording the AWS calls the app makes while representative
flows run through it (tests/infra/flows.py), plus what AWS does with the role on
the code's behalf (logs, polling the SQS event source). A missing grant fails
the first test; a grant nothing used fails the second.
"""

from __future__ import annotations

import json

import pytest

from infra.template import ROOT, UPLOAD_PREFIX, app_shape, load_stage, stage_names
from tests.infra.iam import APP, Grant, Need, grants, needs_for, platform_needs

POLICY_STAGES = [
    name
    for name, stage in json.loads((ROOT / ".chalice" / "config.json").read_text())["stages"].items()
    if stage.get("autogen_policy") is False
]


def policy(stage: str) -> dict:
    cfg = json.loads((ROOT / ".chalice" / "config.json").read_text())["stages"][stage]
    return json.loads((ROOT / ".chalice" / cfg["iam_policy_file"]).read_text())


def all_needs(recording, stage: str) -> list[Need]:
    from app import app

    cfg = json.loads((ROOT / ".chalice" / "config.json").read_text())
    xray = bool(cfg["stages"][stage].get("xray", cfg.get("xray", False)))
    needs = [n for call in recording.calls for n in needs_for(call, recording.stage)]
    return needs + platform_needs(app, app_shape(stage).functions, xray)


def test_every_deployable_stage_has_a_hand_written_policy():
    assert set(POLICY_STAGES) == {"dev", "prod"}


@pytest.mark.parametrize("stage", POLICY_STAGES)
def test_the_policy_grants_every_call_the_code_makes(recording, stage):
    target = load_stage(stage)
    granted = grants(policy(stage))
    missing = sorted(
        {
            f"{n.action} on {n.arn(target)}  <- {n.why}"
            for n in all_needs(recording, stage)
            if not any(g.allows(n.action, n.arn(target)) for g in granted)
        }
    )
    listing = "\n  ".join(missing)
    assert not missing, f"policy-{stage}.json lacks:\n  {listing}"


@pytest.mark.parametrize("stage", POLICY_STAGES)
def test_the_policy_grants_nothing_the_code_does_not_use(recording, stage):
    target = load_stage(stage)
    needs = all_needs(recording, stage)
    unused = [g for g in grants(policy(stage)) if not any(g.allows(n.action, n.arn(target)) for n in needs)]
    listing = "\n  ".join(f"{g.sid}: {g.action} on {g.resource}" for g in unused)
    assert not unused, f"policy-{stage}.json grants unused:\n  {listing}"


@pytest.mark.parametrize("stage", POLICY_STAGES)
def test_the_policy_names_actions_and_resources_without_blanket_wildcards(stage):
    names = stage_names(load_stage(stage))
    ours = (
        load_stage(stage).env["TABLE_PREFIX"] + "-",
        names["bucket"],
        names["queue"],
        f"/aws/lambda/{APP}-{stage}-",
    )
    for g in grants(policy(stage)):
        assert "*" not in g.action, f"{g.sid}: spell out actions ({g.action})"
        assert any(name in g.resource for name in ours), f"{g.sid}: {g.resource} is not one of the stage's"


def test_the_recording_saw_transactions_batches_presigned_urls_and_the_event_handler(recording):
    seen = {(c.service, c.operation, c.presigned) for c in recording.calls}
    flows = {c.flow for c in recording.calls}
    assert {
        ("dynamodb", "TransactWriteItems", False),
        ("dynamodb", "BatchWriteItem", False),
        ("dynamodb", "BatchGetItem", False),
        ("s3", "PutObject", True),
        ("s3", "GetObject", True),
    } <= seen
    assert {"health", "manifests_and_assets", "projects", "uploads", "sweeps"} <= flows


def test_a_transaction_needs_each_items_action_not_a_transaction_action(recording):
    tx = next(
        c
        for c in recording.calls
        if c.operation == "TransactWriteItems" and any("Update" in i for i in c.params["TransactItems"])
    )
    actions = {n.action for n in needs_for(tx, recording.stage)}
    assert "dynamodb:UpdateItem" in actions
    assert not any("Transact" in a for a in actions)


def test_a_grant_matches_with_iam_wildcards():
    g = Grant("x", "dynamodb:Query", "arn:aws:dynamodb:*:*:table/t/index/*")
    assert g.allows("dynamodb:query", "arn:aws:dynamodb:us-east-1:1:table/t/index/by-owner")
    assert not g.allows("dynamodb:Query", "arn:aws:dynamodb:us-east-1:1:table/t")
    assert not g.allows("dynamodb:Scan", "arn:aws:dynamodb:us-east-1:1:table/t/index/by-owner")


# --- the bucket's lifecycle and notification cover the right keys ---------------------


def _presigned_put_keys(recording) -> list[str]:
    return [c.params["Key"] for c in recording.calls if c.operation == "PutObject" and c.presigned]


def test_browser_uploads_land_under_the_prefix_the_bucket_reports_to_the_queue(recording):
    keys = _presigned_put_keys(recording)
    assert keys
    outside = [k for k in keys if not k.startswith(UPLOAD_PREFIX)]
    assert not outside, (
        f"presigned PUTs outside {UPLOAD_PREFIX!r} never reach the upload-event queue "
        f"(infra/template.py UPLOAD_PREFIX): {outside[:3]}"
    )


def test_the_lifecycle_rules_never_expire_an_attached_image(recording):
    from infra.template import app_shape, build_template, load_stage

    kept = {
        c.params["Key"]
        for c in recording.calls
        if c.service == "s3" and c.operation == "GetObject" and c.presigned  # image URLs shown to clients
    }
    assert kept
    template = build_template(load_stage("dev"), app_shape("dev"))
    rules = template["Resources"]["AssetsBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    for rule in rules:
        if "ExpirationInDays" in rule or "Expiration" in rule:
            expiring = [k for k in kept if k.startswith(rule.get("Prefix", ""))]
            assert not expiring, f"rule {rule['Id']} would expire attached images: {expiring[:3]}"


def test_a_copy_needs_read_on_the_source_and_write_on_the_destination(recording):
    from tests.infra.recorder import Call

    bucket = recording.stage.bucket
    copy = Call(
        "s3", "CopyObject", {"Bucket": bucket, "Key": "images/b", "CopySource": f"{bucket}/uploads/a"}
    )
    needs = {(n.action, n.resource) for n in needs_for(copy, recording.stage)}
    assert needs == {
        ("s3:GetObject", ("object", "uploads/a")),
        ("s3:ListBucket", ("bucket",)),
        ("s3:PutObject", ("object", "images/b")),
    }
