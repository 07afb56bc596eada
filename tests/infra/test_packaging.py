"""`chalice package` with the generated merge template: what `make package` builds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from chalicelib.models import ALL_MODELS
from infra.package import PackageError, check_packaged, sqs_event_queue_name
from infra.template import load_stage, owned_resource_ids, stage_names, table_logical_id

STAGES = ("dev", "prod")


@pytest.mark.parametrize("stage", STAGES)
def test_the_packaged_template_passes_cfn_lint(packaged, stage):
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    result = subprocess.run(
        [str(cfn_lint), "--", str(packaged[stage].template_path)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("stage", STAGES)
def test_every_generated_resource_is_in_the_packaged_template_unchanged(packaged, stage):
    p = packaged[stage]
    for name in owned_resource_ids(p.merge):
        assert p.sam["Resources"][name] == p.merge["Resources"][name]
    assert p.sam["Parameters"] == p.merge["Parameters"]


@pytest.mark.parametrize("stage", STAGES)
def test_the_packaged_tables_are_the_models_tables(packaged, stage):
    sam = packaged[stage].sam["Resources"]
    names = stage_names(load_stage(stage))
    for model in ALL_MODELS:
        props = sam[table_logical_id(model)]["Properties"]
        assert props["TableName"] == names[model.__name__]
        schema = model._get_schema()
        assert {(k["AttributeName"], k["KeyType"]) for k in props["KeySchema"]} == {
            (k["AttributeName"], k["KeyType"]) for k in schema["key_schema"]
        }
        for kind, key in (
            ("global_secondary_indexes", "GlobalSecondaryIndexes"),
            ("local_secondary_indexes", "LocalSecondaryIndexes"),
        ):
            assert {i["IndexName"] for i in props.get(key, [])} == {i["index_name"] for i in schema[kind]}


@pytest.mark.parametrize("stage", STAGES)
def test_the_upload_event_handler_listens_to_the_queue_the_template_creates(packaged, stage):
    sam = packaged[stage].sam["Resources"]
    events = sam["OnUploadEvent"]["Properties"]["Events"]
    (event,) = events.values()
    assert event["Type"] == "SQS"
    assert sqs_event_queue_name(event["Properties"]["Queue"]) == f"vidpipe-{stage}-upload-events"
    assert sam["UploadEventsQueue"]["Properties"]["QueueName"] == f"vidpipe-{stage}-upload-events"
    assert "UploadEventsQueue" in sam["OnUploadEvent"]["DependsOn"]
    # The handler answers batchItemFailures; without this Lambda would ignore them.
    assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_the_merged_api_answers_gateway_errors_in_our_shape(packaged):
    body = packaged["dev"].sam["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]
    assert body["paths"], "Chalice's routes are still there"
    assert {"UNAUTHORIZED", "ACCESS_DENIED", "DEFAULT_4XX"} <= set(
        body["x-amazon-apigateway-gateway-responses"]
    )


def test_functions_keep_the_stage_environment_and_gain_the_deploy_parameters(packaged):
    sam = packaged["prod"].sam["Resources"]
    variables = sam["APIHandler"]["Properties"]["Environment"]["Variables"]
    assert variables["TABLE_PREFIX"] == "vidpipe-prod"
    assert variables["AUTH_MODE"] == "oidc"
    assert variables["JWT_ISSUER"] == {"Ref": "JwtIssuer"}
    assert variables["CURSOR_SECRET"] == {"Ref": "CursorSecret"}


def test_a_merge_fragment_that_matched_nothing_chalice_emitted_is_refused():
    with pytest.raises(PackageError, match="no Type"):
        check_packaged({"Resources": {"ApiHandler": {"DependsOn": ["X"]}}}, "q")


def test_a_handler_listening_to_another_queue_is_refused():
    sam = {
        "Resources": {
            "OnUploadEvent": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "Events": {
                        "E": {
                            "Type": "SQS",
                            "Properties": {
                                "Queue": {"Fn::Sub": "arn:${AWS::Partition}:sqs:r:a:vidpipe-upload-events"}
                            },
                        }
                    }
                },
            }
        }
    }
    with pytest.raises(PackageError, match="vidpipe-upload-events"):
        check_packaged(sam, "vidpipe-dev-upload-events")
