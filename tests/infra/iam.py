"""From recorded botocore calls to the IAM permissions they need, and matching
those against a policy document.

A permission is kept stage-independent (which model's table, which object key)
until it is rendered for a stage, so one recording checks every stage's policy.
To teach the test a new AWS operation, add one line to the table that maps it.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from infra.template import Stage, stage_names
from tests.infra.recorder import Call

REGION = "us-east-1"
ACCOUNT = "123456789012"
APP = "vidpipe-manifests"

# botocore operation -> IAM action, where the two differ or the resource is special.
# Transactions and batches are expanded item by item in `needs_for` below.
S3_ACTIONS = {
    "GetObject": "s3:GetObject",
    "CopyObject": "s3:PutObject",  # and s3:GetObject on the source, below
    "HeadObject": "s3:GetObject",
    "PutObject": "s3:PutObject",
    "DeleteObject": "s3:DeleteObject",
    "DeleteObjects": "s3:DeleteObject",
    "CreateMultipartUpload": "s3:PutObject",
    "UploadPart": "s3:PutObject",
    "CompleteMultipartUpload": "s3:PutObject",
    "AbortMultipartUpload": "s3:AbortMultipartUpload",
    "HeadBucket": "s3:ListBucket",
    "ListObjectsV2": "s3:ListBucket",
    "GetBucketCors": "s3:GetBucketCORS",
    "PutBucketCors": "s3:PutBucketCORS",
}
TRANSACT_WRITE_ACTIONS = {
    "ConditionCheck": "dynamodb:ConditionCheckItem",
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
}
# What the Lambda service does with the function's role for an SQS event source.
SQS_EVENT_SOURCE_ACTIONS = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")
LOG_ACTIONS = ("logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents")
XRAY_ACTIONS = ("xray:PutTraceSegments", "xray:PutTelemetryRecords")


@dataclass(frozen=True)
class Need:
    """One permission the deployed code needs, on a logical resource:
    ("table", model, index|""), ("bucket",), ("object", key), ("queue",),
    ("log-group", function), ("log-stream", function), ("any",)."""

    action: str
    resource: tuple[str, ...]
    why: str

    def arn(self, stage: Stage) -> str:
        names = stage_names(stage)
        kind = self.resource[0]
        if kind == "table":
            arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{names[self.resource[1]]}"
            return f"{arn}/index/{self.resource[2]}" if self.resource[2] else arn
        if kind == "bucket":
            return f"arn:aws:s3:::{names['bucket']}"
        if kind == "object":
            return f"arn:aws:s3:::{names['bucket']}/{self.resource[1]}"
        if kind == "queue":
            return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{names['queue']}"
        if kind in ("log-group", "log-stream"):
            # SAM leaves FunctionName unset: CloudFormation names the function
            # <stack>-<LogicalId>-<suffix>, and `make deploy` names the stack APP-STAGE.
            group = f"/aws/lambda/{APP}-{stage.name}-{self.resource[1]}-AbCdEf123456"
            arn = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}"
            return f"{arn}:log-stream:2026/01/01/[$LATEST]0123abcd" if kind == "log-stream" else arn
        if kind == "any":
            return "*"
        raise AssertionError(f"unknown resource {self.resource}")


class UnknownResource(AssertionError):
    pass


def _table(names_to_model: dict[str, str], table_name: str) -> str:
    if table_name not in names_to_model:
        raise UnknownResource(f"the code used table {table_name!r}, which no model in ALL_MODELS declares")
    return names_to_model[table_name]


def needs_for(call: Call, recorded_stage: Stage) -> list[Need]:
    """The IAM permissions one recorded call needs."""
    names = stage_names(recorded_stage)
    tables = {v: k for k, v in names.items() if k not in ("bucket", "queue", "dlq")}
    p = call.params
    why = f"{call.service}.{call.operation}" + (" (presigned)" if call.presigned else "")
    why += f" in {call.flow}" if call.flow else ""
    if call.service == "dynamodb":
        if call.operation == "TransactWriteItems":
            out = []
            for item in p["TransactItems"]:
                ((kind, body),) = item.items()
                model = _table(tables, body["TableName"])
                out.append(Need(TRANSACT_WRITE_ACTIONS[kind], ("table", model, ""), why))
            return out
        if call.operation == "TransactGetItems":
            return [
                Need("dynamodb:GetItem", ("table", _table(tables, i["Get"]["TableName"]), ""), why)
                for i in p["TransactItems"]
            ]
        if call.operation in ("BatchGetItem", "BatchWriteItem"):
            return [
                Need(f"dynamodb:{call.operation}", ("table", _table(tables, t), ""), why)
                for t in p["RequestItems"]
            ]
        model = _table(tables, p["TableName"])
        return [Need(f"dynamodb:{call.operation}", ("table", model, p.get("IndexName", "")), why)]
    if call.service == "s3":
        if p.get("Bucket") != names["bucket"]:
            raise UnknownResource(f"the code used bucket {p.get('Bucket')!r}, not the stage's bucket")
        action = S3_ACTIONS[call.operation]
        if call.operation in ("HeadBucket", "ListObjectsV2", "GetBucketCors", "PutBucketCors"):
            return [Need(action, ("bucket",), why)]
        if call.operation == "CopyObject":  # reads the source, writes the destination
            source = p["CopySource"]
            bucket, _, source_key = (
                (source["Bucket"], "/", source["Key"]) if isinstance(source, dict) else source.partition("/")
            )
            if bucket != names["bucket"]:
                raise UnknownResource(f"the code copied from bucket {bucket!r}, not the stage's bucket")
            return [
                Need("s3:GetObject", ("object", source_key), why),
                Need("s3:ListBucket", ("bucket",), f"404 for missing keys ({why})"),
                Need("s3:PutObject", ("object", p["Key"]), why),
            ]
        keys = [o["Key"] for o in p["Delete"]["Objects"]] if call.operation == "DeleteObjects" else [p["Key"]]
        out = [Need(action, ("object", k), why) for k in keys]
        if action == "s3:GetObject":
            # Without s3:ListBucket, S3 answers 403 instead of 404 for a missing key,
            # and the code relies on telling "not uploaded yet" from "forbidden".
            out.append(Need("s3:ListBucket", ("bucket",), f"404 for missing keys ({why})"))
        return out
    if call.service == "sqs":
        queue_url = p.get("QueueUrl", "")
        if queue_url.rsplit("/", 1)[-1] != names["queue"]:
            raise UnknownResource(f"the code used queue {queue_url!r}, not the stage's queue")
        return [Need(f"sqs:{call.operation}", ("queue",), why)]
    raise UnknownResource(
        f"no IAM mapping for {call.service}.{call.operation}: add one in tests/infra/iam.py"
    )


def platform_needs(app: Any, function_ids: Iterable[str], xray: bool) -> list[Need]:
    """What AWS does with the role on the code's behalf: logs, SQS polling, X-Ray."""
    from chalice.app import SQSEventConfig

    out = []
    for fn in function_ids:
        out.append(Need("logs:CreateLogGroup", ("log-group", fn), f"Lambda logs of {fn}"))
        out += [Need(a, ("log-stream", fn), f"Lambda logs of {fn}") for a in LOG_ACTIONS[1:]]
    for source in app.event_sources:
        if isinstance(source, SQSEventConfig):
            why = f"SQS event source of {source.name}"
            out += [Need(a, ("queue",), why) for a in SQS_EVENT_SOURCE_ACTIONS]
    if xray:
        out += [Need(a, ("any",), "X-Ray tracing") for a in XRAY_ACTIONS]
    return out


# --- policies -------------------------------------------------------------------------


@dataclass(frozen=True)
class Grant:
    sid: str
    action: str
    resource: str

    def allows(self, action: str, arn: str) -> bool:
        return _match(self.action.lower(), action.lower()) and _match(self.resource, arn)


def _match(pattern: str, value: str) -> bool:
    """IAM wildcards: * any run of characters (also across / and :), ? one character."""
    return fnmatch.fnmatchcase(value, pattern)


def grants(policy: dict[str, Any]) -> list[Grant]:
    out = []
    for i, stmt in enumerate(policy["Statement"]):
        assert stmt["Effect"] == "Allow", "only Allow statements are expected"
        assert not ({"NotAction", "NotResource", "Condition"} & set(stmt)), f"statement {i} is not plain"
        actions = stmt["Action"] if isinstance(stmt["Action"], list) else [stmt["Action"]]
        resources = stmt["Resource"] if isinstance(stmt["Resource"], list) else [stmt["Resource"]]
        out += [Grant(stmt.get("Sid", str(i)), a, r) for a in actions for r in resources]
    return out
