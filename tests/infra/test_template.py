"""The generated CloudFormation resources, property by property.

moto's CloudFormation ignores TTL, point-in-time recovery, deletion protection,
bucket CORS, lifecycle rules, public access blocks, bucket notifications and both
resource policies (see test_cloudformation_smoke.py), so those are asserted here,
on the template itself.
"""

from __future__ import annotations

from typing import Any

import pytest
from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.indexes import GlobalSecondaryIndex, IncludeProjection
from pynamodb.models import Model

from chalicelib import config
from chalicelib.models import ALL_MODELS, LIST_FIELDS
from infra.template import (
    DEPLOY_PARAMETERS,
    DLQ_MAX_RECEIVE_COUNT,
    GATEWAY_RESPONSE_TYPES,
    UPLOAD_PREFIX,
    AppShape,
    Stage,
    app_shape,
    build_template,
    cors_rule,
    load_stage,
    stage_environment,
    table_logical_id,
    table_properties,
)

STAGES = ("dev", "prod")


@pytest.fixture(scope="module")
def shape() -> AppShape:
    return app_shape("dev")


def template_for(stage: Stage, shape: AppShape) -> dict[str, Any]:
    return build_template(stage, shape)


def resources_of(template: dict[str, Any], kind: str) -> dict[str, Any]:
    return {k: v for k, v in template["Resources"].items() if v.get("Type") == kind}


def tables(stage_name: str, shape: AppShape) -> dict[str, Any]:
    return resources_of(template_for(load_stage(stage_name), shape), "AWS::DynamoDB::Table")


# --- tables -------------------------------------------------------------------------


@pytest.mark.parametrize("stage_name", STAGES)
def test_every_model_becomes_one_table_named_as_config_names_it_for_the_stage(stage_name, shape):
    stage = load_stage(stage_name)
    with stage_environment(stage):
        expected = {
            table_logical_id(m): config.table_name(m.Meta.table_name.split("-", 2)[2]) for m in ALL_MODELS
        }
        assert all(name.startswith(stage.env["TABLE_PREFIX"] + "-") for name in expected.values())
    got = {k: v["Properties"]["TableName"] for k, v in tables(stage_name, shape).items()}
    assert got == expected


def test_tables_are_on_demand_with_point_in_time_recovery(shape):
    for res in tables("dev", shape).values():
        assert res["Properties"]["BillingMode"] == "PAY_PER_REQUEST"
        assert "ProvisionedThroughput" not in res["Properties"]
        assert res["Properties"]["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


def test_only_prod_tables_refuse_deletion_and_outlive_their_stack(shape):
    for res in tables("prod", shape).values():
        assert res["Properties"]["DeletionProtectionEnabled"] is True
        assert res["DeletionPolicy"] == res["UpdateReplacePolicy"] == "Retain"
    for res in tables("dev", shape).values():
        assert res["Properties"]["DeletionProtectionEnabled"] is False
        assert res["DeletionPolicy"] == "Delete"


def test_the_ttl_attributes_of_the_models_become_time_to_live(shape):
    by_id = tables("dev", shape)
    for model in ALL_MODELS:
        ttl = model._ttl_attribute()
        spec = by_id[table_logical_id(model)]["Properties"].get("TimeToLiveSpecification")
        assert spec == ({"AttributeName": ttl.attr_name, "Enabled": True} if ttl else None), model
    assert any(m._ttl_attribute() for m in ALL_MODELS), "the upload tickets and idempotency records expire"


class _ByColour(GlobalSecondaryIndex["_Widget"]):
    class Meta:
        index_name = "by-colour"
        projection = IncludeProjection(["size"])

    colour = UnicodeAttribute(hash_key=True)
    rank = NumberAttribute(range_key=True)


class _Widget(Model):
    class Meta:
        table_name = "widgets"

    widget_id = UnicodeAttribute(range_key=True)
    owner = UnicodeAttribute(hash_key=True)
    colour = UnicodeAttribute(null=True)
    rank = NumberAttribute(null=True)
    size = NumberAttribute(null=True)
    expires = TTLAttribute(null=True)
    by_colour = _ByColour()


def test_any_model_maps_to_table_properties_keys_first_with_its_ttl_and_projection():
    props = table_properties(_Widget, "p-widgets", protected=False)
    assert props["KeySchema"] == [
        {"AttributeName": "owner", "KeyType": "HASH"},
        {"AttributeName": "widget_id", "KeyType": "RANGE"},
    ]
    assert props["AttributeDefinitions"] == [
        {"AttributeName": "colour", "AttributeType": "S"},
        {"AttributeName": "owner", "AttributeType": "S"},
        {"AttributeName": "rank", "AttributeType": "N"},
        {"AttributeName": "widget_id", "AttributeType": "S"},
    ]
    assert props["GlobalSecondaryIndexes"] == [
        {
            "IndexName": "by-colour",
            "KeySchema": [
                {"AttributeName": "colour", "KeyType": "HASH"},
                {"AttributeName": "rank", "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["size"]},
        }
    ]
    assert "LocalSecondaryIndexes" not in props
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires", "Enabled": True}


def _model_indexes(model: Any) -> dict[str, tuple[str, tuple[str, ...], str]]:
    """Index name -> (kind, key attribute names hash first, projection), read from
    the index classes themselves rather than PynamoDB's schema dump."""
    out = {}
    for name, index in model._indexes.items():
        attrs = index.Meta.attributes.values()
        keys = tuple(
            a.attr_name
            for a in sorted(attrs, key=lambda a: not a.is_hash_key)
            if a.is_hash_key or a.is_range_key
        )
        kind = "GSI" if isinstance(index, GlobalSecondaryIndex) else "LSI"
        out[name] = (kind, keys, index.Meta.projection.projection_type)
    return out


def _template_indexes(props: dict[str, Any]) -> dict[str, tuple[str, tuple[str, ...], str]]:
    out = {}
    for kind, key in (("GSI", "GlobalSecondaryIndexes"), ("LSI", "LocalSecondaryIndexes")):
        for index in props.get(key, []):
            keys = tuple(k["AttributeName"] for k in index["KeySchema"])
            out[index["IndexName"]] = (kind, keys, index["Projection"]["ProjectionType"])
    return out


def test_each_tables_keys_and_indexes_are_the_models(shape):
    by_id = tables("dev", shape)
    for model in ALL_MODELS:
        props = by_id[table_logical_id(model)]["Properties"]
        keys = tuple(k["AttributeName"] for k in props["KeySchema"])
        assert keys == tuple(a for a in (model._hash_keyname, model._range_keyname) if a), model
        assert _template_indexes(props) == _model_indexes(model), model
        defined = {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]}
        attrs = model.get_attributes()
        used = set(keys) | {k for _, ks, _ in _model_indexes(model).values() for k in ks}
        assert defined == {name: attrs[name].attr_type for name in used}, model


def test_the_manifest_table_carries_five_lsis_and_sixteen_gsis(shape):
    props = tables("dev", shape)["ManifestTable"]["Properties"]
    assert len(props["LocalSecondaryIndexes"]) == 5  # DynamoDB's limit per table
    assert len(props["GlobalSecondaryIndexes"]) == 16  # default quota: 20


def test_each_tables_projected_attributes_stay_within_dynamodbs_quota_of_100(shape):
    """DynamoDB refuses a table whose indexes project more than 100 non-key
    attributes in all (INCLUDE); moto does not check it, so this does."""
    for resource in tables("dev", shape).values():
        props = resource["Properties"]
        indexes = props.get("LocalSecondaryIndexes", []) + props.get("GlobalSecondaryIndexes", [])
        projected = sum(len(i["Projection"].get("NonKeyAttributes", [])) for i in indexes)
        assert projected <= 100, props["TableName"]


def test_the_manifest_list_indexes_project_the_list_fields_their_keys_do_not_carry(shape):
    props = tables("dev", shape)["ManifestTable"]["Properties"]
    projections = {
        i["IndexName"]: set(i["Projection"].get("NonKeyAttributes", []))
        for i in props["LocalSecondaryIndexes"] + props["GlobalSecondaryIndexes"]
    }
    assert projections["owner-name"] == set(LIST_FIELDS)
    assert projections["owner-updated_at"] == set(LIST_FIELDS) - {"updated_at"}
    assert projections["owner-asset_count"] == set(LIST_FIELDS) - {"asset_count"}
    by_partition = set(LIST_FIELDS) - {"updated_at", "category", "status"}
    assert projections["category_status-updated_at"] == by_partition
    assert projections["category-name"] == projections["pending"] == set()
    assert sum(1 for p in projections.values() if p) == 8


# --- bucket and queues -------------------------------------------------------------


def bucket(stage: Stage, shape: AppShape) -> dict[str, Any]:
    res: dict[str, Any] = template_for(stage, shape)["Resources"]["AssetsBucket"]
    return res


def test_the_bucket_is_private_encrypted_and_owner_enforced(shape):
    b = bucket(load_stage("dev"), shape)["Properties"]
    assert b["BucketName"] == load_stage("dev").bucket
    assert b["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    sse = b["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert sse["SSEAlgorithm"] == "AES256"
    assert b["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    deny = template_for(load_stage("dev"), shape)["Resources"]["AssetsBucketPolicy"]["Properties"]
    (statement,) = deny["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_bucket_cors_allows_exactly_the_stages_origins(shape):
    stage = load_stage("dev").with_env(
        CORS_ALLOW_ORIGINS="https://app.example.com, https://admin.example.com"
    )
    (rule,) = bucket(stage, shape)["Properties"]["CorsConfiguration"]["CorsRules"]
    assert rule["AllowedOrigins"] == ["https://app.example.com", "https://admin.example.com"]
    assert rule["AllowedMethods"] == ["GET", "PUT", "HEAD"]
    assert rule["ExposedHeaders"] == ["ETag"]
    closed = load_stage("dev").with_env(CORS_ALLOW_ORIGINS="")
    assert "CorsConfiguration" not in bucket(closed, shape)["Properties"]


def test_the_templates_cors_rule_is_the_one_local_provisioning_applies(backend):
    """moto keeps what provisioning put; the deployed bucket must behave the same."""
    from chalicelib.storage import storage

    local = load_stage("local")
    (applied,) = storage().cors_rules()
    ours = cors_rule(local.cors_origins)
    assert {
        "AllowedMethods": ours["AllowedMethods"],
        "AllowedHeaders": ours["AllowedHeaders"],
        "ExposeHeaders": ours["ExposedHeaders"],
        "MaxAgeSeconds": ours["MaxAge"],
    } == {k: applied.get(k) for k in ("AllowedMethods", "AllowedHeaders", "ExposeHeaders", "MaxAgeSeconds")}
    # a test server on another origin may add itself (CORS_EXTRA_ORIGINS); the stage's are always there
    assert set(ours["AllowedOrigins"]) <= set(applied["AllowedOrigins"])


def test_only_upload_staging_objects_expire_and_unfinished_multipart_uploads_are_aborted(shape):
    rules = bucket(load_stage("dev"), shape)["Properties"]["LifecycleConfiguration"]["Rules"]
    assert all(rule["Status"] == "Enabled" for rule in rules)
    expiring = [rule for rule in rules if "ExpirationInDays" in rule or "Expiration" in rule]
    assert [(r["Prefix"], r["ExpirationInDays"]) for r in expiring] == [(UPLOAD_PREFIX, 2)]
    assert not UPLOAD_PREFIX.startswith(("images/", "thumbnails/")), "attached images must never expire"
    (abort,) = [rule for rule in rules if "AbortIncompleteMultipartUpload" in rule]
    assert abort["Prefix"] == ""
    assert abort["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}


def test_new_objects_under_the_upload_prefix_are_reported_to_the_upload_queue(shape):
    b = bucket(load_stage("dev"), shape)
    (notification,) = b["Properties"]["NotificationConfiguration"]["QueueConfigurations"]
    assert notification["Event"] == "s3:ObjectCreated:*"
    assert notification["Queue"] == {"Fn::GetAtt": ["UploadEventsQueue", "Arn"]}
    assert notification["Filter"] == {"S3Key": {"Rules": [{"Name": "prefix", "Value": UPLOAD_PREFIX}]}}
    assert "UploadEventsQueuePolicy" in b["DependsOn"], "S3 checks it may send when the bucket is created"


def test_the_upload_queue_is_named_for_the_stage_and_dead_letters_after_five_receives(shape):
    stage = load_stage("prod")
    res = template_for(stage, shape)["Resources"]
    queue = res["UploadEventsQueue"]["Properties"]
    with stage_environment(stage):
        assert queue["QueueName"] == config.upload_queue_name() == "vidpipe-prod-upload-events"
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["UploadEventsDeadLetterQueue", "Arn"]},
        "maxReceiveCount": DLQ_MAX_RECEIVE_COUNT,
    }
    assert DLQ_MAX_RECEIVE_COUNT == 5
    assert queue["VisibilityTimeout"] >= 6 * shape.max_timeout, "AWS: at least 6x the function timeout"
    assert res["UploadEventsDeadLetterQueue"]["Properties"]["QueueName"] == "vidpipe-prod-upload-events-dlq"


def test_only_s3_for_this_accounts_bucket_may_send_to_the_queue(shape):
    policy = template_for(load_stage("dev"), shape)["Resources"]["UploadEventsQueuePolicy"]["Properties"]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "s3.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    assert statement["Condition"]["ArnLike"]["aws:SourceArn"] == {
        "Fn::Sub": "arn:${AWS::Partition}:s3:::vidpipe-dev-assets"
    }
    assert statement["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}


# --- merged into Chalice's resources -----------------------------------------------


def gateway(stage: Stage, shape: AppShape) -> dict[str, Any]:
    api = template_for(stage, shape)["Resources"]["RestAPI"]
    responses: dict[str, Any] = api["Properties"]["DefinitionBody"]["x-amazon-apigateway-gateway-responses"]
    return responses


def test_gateway_errors_answer_in_our_error_shape(shape):
    responses = gateway(load_stage("dev"), shape)
    not_found = responses.pop("MISSING_AUTHENTICATION_TOKEN")
    assert (
        set(responses)
        == {*GATEWAY_RESPONSE_TYPES, "THROTTLED"}
        >= {"UNAUTHORIZED", "ACCESS_DENIED", "DEFAULT_4XX"}
    )
    for response in responses.values():
        body = response["responseTemplates"]["application/json"]
        assert body == '{"detail":$context.error.messageString,"errors":[]}'
    assert not_found["statusCode"] == "404"
    assert not_found["responseTemplates"] == {"application/json": '{"detail":"Not Found"}'}


def test_an_unknown_route_on_aws_is_a_404_that_echoes_nothing(shape):
    """API Gateway's own answer quotes the Authorization header; ours is a constant."""
    responses = gateway(load_stage("dev").with_env(CORS_ALLOW_ORIGINS="https://app.example.com"), shape)
    not_found = responses["MISSING_AUTHENTICATION_TOKEN"]
    assert "$" not in not_found["responseTemplates"]["application/json"]
    assert not_found["responseParameters"] == responses["DEFAULT_4XX"]["responseParameters"]


def test_gateway_errors_carry_cors_headers_for_the_stages_origins(shape):
    header = "gatewayresponse.header.Access-Control-Allow-Origin"
    one = gateway(load_stage("dev").with_env(CORS_ALLOW_ORIGINS="https://app.example.com"), shape)
    assert one["DEFAULT_4XX"]["responseParameters"] == {header: "'https://app.example.com'"}
    several = gateway(
        load_stage("dev").with_env(CORS_ALLOW_ORIGINS="https://a.example,https://b.example"), shape
    )
    assert several["UNAUTHORIZED"]["responseParameters"] == {
        header: "method.request.header.Origin",
        "gatewayresponse.header.Vary": "'Origin'",
    }
    none = gateway(load_stage("dev").with_env(CORS_ALLOW_ORIGINS=""), shape)
    assert "responseParameters" not in none["ACCESS_DENIED"]


def test_every_function_gets_the_deploy_parameters_and_waits_for_our_resources(shape):
    template = template_for(load_stage("dev"), shape)
    owned = [k for k, v in template["Resources"].items() if "Type" in v]
    assert {"APIHandler", "OnUploadEvent", "SweepAbandonedDuplicates", "SweepExpiredUploads"} <= set(
        shape.functions
    )
    for fn in shape.functions:
        overlay = template["Resources"][fn]
        assert set(overlay["DependsOn"]) == set(owned)
        variables = overlay["Properties"]["Environment"]["Variables"]
        assert variables == {env: {"Ref": spec["LogicalId"]} for env, spec in DEPLOY_PARAMETERS.items()}


def test_the_cursor_secret_is_a_hidden_required_parameter_where_the_stage_sets_none(shape):
    params = template_for(load_stage("prod"), shape)["Parameters"]
    assert params["CursorSecret"]["NoEcho"] is True
    assert "Default" not in params["CursorSecret"]
    assert params["JwtIssuer"]["Default"] == ""
    local = template_for(load_stage("local"), shape)["Parameters"]
    assert local["CursorSecret"]["Default"] == load_stage("local").env["CURSOR_SECRET"]


# --- stage throttling ---------------------------------------------------------------


def test_each_deployable_stage_throttles_every_method_at_its_configured_rate_and_burst(shape):
    import json

    from infra.template import ROOT

    stages = json.loads((ROOT / ".chalice" / "config.json").read_text())["stages"]
    for stage_name in STAGES:
        limits = stages[stage_name]["api_throttling"]
        api = template_for(load_stage(stage_name), shape)["Resources"]["RestAPI"]["Properties"]
        assert api["MethodSettings"] == [
            {
                "ResourcePath": "/*",
                "HttpMethod": "*",
                "ThrottlingRateLimit": limits["rate_limit"],
                "ThrottlingBurstLimit": limits["burst_limit"],
            }
        ]
    assert load_stage("prod").throttle != load_stage("dev").throttle, "each stage has its own limits"


def test_a_stage_without_limits_gets_no_method_settings(shape):
    api = template_for(load_stage("local"), shape)["Resources"]["RestAPI"]["Properties"]
    assert load_stage("local").throttle is None
    assert "MethodSettings" not in api


def test_a_throttled_request_gets_429_in_our_error_shape_with_retry_after_and_cors(shape):
    stage = load_stage("prod").with_env(CORS_ALLOW_ORIGINS="https://app.example.com")
    throttled = gateway(stage, shape)["THROTTLED"]
    assert throttled["statusCode"] == "429"
    assert throttled["responseTemplates"] == {
        "application/json": '{"detail":$context.error.messageString,"errors":[]}'
    }
    assert throttled["responseParameters"] == {
        "gatewayresponse.header.Retry-After": "'1'",
        "gatewayresponse.header.Access-Control-Allow-Origin": "'https://app.example.com'",
    }


def test_sqs_event_sources_report_partial_batch_failures(shape):
    template = template_for(load_stage("dev"), shape)
    assert shape.sqs_events == (("OnUploadEvent", "OnUploadEventSqsEventSource"),)
    events = template["Resources"]["OnUploadEvent"]["Properties"]["Events"]
    assert events == {
        "OnUploadEventSqsEventSource": {"Properties": {"FunctionResponseTypes": ["ReportBatchItemFailures"]}}
    }
