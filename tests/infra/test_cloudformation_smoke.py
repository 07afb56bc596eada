"""The packaged template's own resources, created by moto's CloudFormation, and
the app working against them.

What moto 5.2.5's CloudFormation does with our resources:
- creates tables with keys, attribute definitions, LSIs, GSIs, projections and
  billing mode; ignores TimeToLiveSpecification, PointInTimeRecoverySpecification;
- creates the bucket with its encryption and tags; ignores CorsConfiguration,
  LifecycleConfiguration, PublicAccessBlockConfiguration, OwnershipControls and
  NotificationConfiguration;
- creates both queues with retention, visibility timeout, SSE and redrive policy;
- skips AWS::S3::BucketPolicy and AWS::SQS::QueuePolicy (unsupported types).
The ignored properties are asserted on the template (test_template.py); the last
test here fails if moto starts honouring them, so they can move here.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from chalicelib.models import ALL_MODELS
from infra.template import load_stage, stage_names
from tests.infra.conftest import SMOKE_STAGE, aws
from tests.infra.flows import isolated_stage

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS")


def _shape(table: dict[str, Any]) -> dict[str, Any]:
    """What makes two tables the same for the app: keys, types, indexes, billing."""

    def index(i: dict[str, Any]) -> tuple[Any, ...]:
        return (
            tuple((k["AttributeName"], k["KeyType"]) for k in i["KeySchema"]),
            i["Projection"]["ProjectionType"],
            tuple(sorted(i["Projection"].get("NonKeyAttributes", []))),
        )

    return {
        "keys": [(k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]],
        "attributes": sorted((a["AttributeName"], a["AttributeType"]) for a in table["AttributeDefinitions"]),
        "gsis": {i["IndexName"]: index(i) for i in table.get("GlobalSecondaryIndexes", [])},
        "lsis": {i["IndexName"]: index(i) for i in table.get("LocalSecondaryIndexes", [])},
        "billing": table.get("BillingModeSummary", {}).get("BillingMode"),
    }


def test_the_stack_creates_each_models_table_as_pynamodb_creates_it_locally(backend, cfn_stack):
    """Two independent paths from the models: PynamoDB's create_table (make run,
    tests) and the generated template (AWS). A model change one path misses fails here."""
    ddb = aws("dynamodb", backend["DYNAMODB_ENDPOINT_URL"])
    deployed = stage_names(load_stage(SMOKE_STAGE))
    local = stage_names(load_stage("local"))
    for model in ALL_MODELS:
        from_stack = ddb.describe_table(TableName=deployed[model.__name__])["Table"]
        from_pynamodb = ddb.describe_table(TableName=local[model.__name__])["Table"]
        assert from_stack["TableStatus"] == "ACTIVE"
        assert _shape(from_stack) == _shape(from_pynamodb), model.__name__
        assert _shape(from_stack)["billing"] == "PAY_PER_REQUEST"


def test_the_stack_creates_the_bucket_and_the_queue_with_its_dead_letter_queue(backend, cfn_stack):
    endpoint = backend["DYNAMODB_ENDPOINT_URL"]
    names = stage_names(load_stage(SMOKE_STAGE))
    assert cfn_stack["AssetsBucketName"] == names["bucket"]
    rules = aws("s3", endpoint).get_bucket_encryption(Bucket=names["bucket"])
    sse = rules["ServerSideEncryptionConfiguration"]["Rules"][0]["ApplyServerSideEncryptionByDefault"]
    assert sse["SSEAlgorithm"] == "AES256"
    sqs = aws("sqs", endpoint)
    attrs = sqs.get_queue_attributes(QueueUrl=cfn_stack["UploadEventsQueueUrl"], AttributeNames=["All"])
    assert attrs["Attributes"]["QueueArn"].endswith(":" + names["queue"])
    assert '"maxReceiveCount": 5' in attrs["Attributes"]["RedrivePolicy"]
    assert names["dlq"] in attrs["Attributes"]["RedrivePolicy"]
    assert int(attrs["Attributes"]["VisibilityTimeout"]) >= 6 * load_stage(SMOKE_STAGE).lambda_timeout


def test_the_app_works_against_the_stacks_resources(cfn_stack, tmp_path):
    from tests.infra.flows import Api, FlowContext
    from tests.infra.recorder import Recorder

    with isolated_stage(tmp_path, cfn_stack["TablePrefix"], provision=False) as (client, env):
        assert env["BUCKET_NAME"] == cfn_stack["AssetsBucketName"]
        ctx = FlowContext(client, env, Recorder())
        assert Api(client, None).get("/api/health").status == 200, "every table and the bucket answer"
        u = ctx.user()
        m = u.manifest(name="Deployed", category="CHARACTERS")
        assert ctx.ok(u.get(f"/api/manifests/{m['manifest_id']}"))["name"] == "Deployed"
        listed = ctx.ok(u.get("/api/manifests?category=CHARACTERS&sort_by=name"))
        assert [x["manifest_id"] for x in listed] == [m["manifest_id"]]
        asset = u.asset(m["manifest_id"])
        assert ctx.ok(u.get(f"/api/assets/{asset['asset_id']}"))["manifest_tag"] == "CHAR_01"
        p = u.project(title="Uses it", manifest_id=m["manifest_id"])
        assert u.delete(f"/api/manifests/{m['manifest_id']}").status == 409
        ctx.ok(u.delete(f"/api/projects/{p['project_id']}"))
        key = {"Idempotency-Key": str(uuid.uuid4())}
        first = u.post("/api/projects", {"title": "once"}, headers=key)
        assert u.post("/api/projects", {"title": "once"}, headers=key).json == first.json


def test_moto_ignores_what_the_template_tests_check_instead(backend, cfn_stack):
    endpoint = backend["DYNAMODB_ENDPOINT_URL"]
    names = stage_names(load_stage(SMOKE_STAGE))
    ddb = aws("dynamodb", endpoint)
    ttl = ddb.describe_time_to_live(TableName=names["UploadModel"])["TimeToLiveDescription"]
    assert ttl["TimeToLiveStatus"] == "DISABLED"
    backups = ddb.describe_continuous_backups(TableName=names["ManifestModel"])[
        "ContinuousBackupsDescription"
    ]
    assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "DISABLED"
    s3 = aws("s3", endpoint)
    for call, missing in (
        (s3.get_bucket_cors, "NoSuchCORSConfiguration"),
        (s3.get_bucket_lifecycle_configuration, "NoSuchLifecycleConfiguration"),
        (s3.get_public_access_block, "NoSuchPublicAccessBlockConfiguration"),
        (s3.get_bucket_policy, "NoSuchBucketPolicy"),
    ):
        try:
            call(Bucket=names["bucket"])
        except s3.exceptions.ClientError as exc:
            assert exc.response["Error"]["Code"] == missing
        else:
            raise AssertionError(f"moto now applies {call.__name__}: assert it on the stack")
    notifications = s3.get_bucket_notification_configuration(Bucket=names["bucket"])
    assert "QueueConfigurations" not in notifications
