"""The CloudFormation resources `chalice package --merge-template` adds to the app.

One source of truth: every DynamoDB table is generated from a PynamoDB model in
`chalicelib.models.ALL_MODELS` (keys, LSIs, GSIs, projections, TTL), with the
name `config.table_name(suffix)` gives under the stage's TABLE_PREFIX. A model
change therefore changes the template; `tests/infra` fails if they disagree.

Besides the tables: the assets bucket (private, encrypted, CORS from the stage,
lifecycle for abandoned uploads, ObjectCreated -> SQS), the upload-event queue
and its dead-letter queue, gateway responses that carry CORS headers and our
error body, and deploy-time parameters (OIDC issuer, cursor secret) merged into
every function's environment.

    python -m infra.template --stage dev [--output build/dev/merge.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

# Stages whose tables refuse deletion and survive a stack delete or replacement.
PROTECTED_STAGES = frozenset({"prod"})

# Browsers PUT uploads under this staging prefix and S3 reports each new object
# to the queue. The app writes the bytes it verified to `images/` (immutable,
# shared by duplicated manifests; no lifecycle rule may expire them) and deletes
# the staging object; a rule expires staging objects the app never deleted (a
# PUT through a URL after its ticket was settled, a crash after completion).
UPLOAD_PREFIX = "incoming/"
STAGING_EXPIRY_DAYS = 2  # longer than any ticket's completion window
ABANDONED_MULTIPART_DAYS = 1
DLQ_MAX_RECEIVE_COUNT = 5
QUEUE_RETENTION_SECONDS = 4 * 24 * 3600
DLQ_RETENTION_SECONDS = 14 * 24 * 3600
# AWS's guidance for SQS event sources: visibility timeout >= 6 x function timeout.
VISIBILITY_TIMEOUT_FACTOR = 6
DEFAULT_LAMBDA_TIMEOUT = 60

# The Lambda runtime every function runs on, whatever Python builds the package
# (Chalice would pick the builder's). python3.12 runs on Amazon Linux 2023
# (glibc 2.34), which the manylinux_2_28/2_34 wheels of Pillow and cryptography
# need; infra/wheels.py installs the dependencies for exactly this runtime.
LAMBDA_RUNTIME = "python3.12"

# API Gateway answers 429 itself when a stage's token bucket is empty; the client
# may retry after about one refill. The stage's rate and burst come from
# `api_throttling` in .chalice/config.json.
THROTTLED_RETRY_AFTER_SECONDS = 1

# Gateway-generated errors (no Lambda involved) answered in our error shape.
GATEWAY_RESPONSE_TYPES = ("UNAUTHORIZED", "ACCESS_DENIED", "DEFAULT_4XX", "DEFAULT_5XX")
GATEWAY_ERROR_BODY = '{"detail":$context.error.messageString,"errors":[]}'
# API Gateway answers an unknown route (or a method a path lacks) 403 "Missing
# Authentication Token", and with an Authorization header its message quotes the
# whole header: answer 404 in our shape, with a constant body that echoes nothing.
NOT_FOUND_RESPONSE_TYPE = "MISSING_AUTHENTICATION_TOKEN"
BINARY_MEDIA_TYPES = ["*/*"]
NOT_FOUND_BODY = '{"detail":"Not Found"}'

# Deploy-time settings: CloudFormation parameters merged into every function's
# environment. A value in the stage's config becomes the parameter's default.
DEPLOY_PARAMETERS: dict[str, dict[str, Any]] = {
    "JWT_ISSUER": {
        "LogicalId": "JwtIssuer",
        "Description": "OIDC issuer URL, e.g. https://cognito-idp.<region>.amazonaws.com/<user-pool-id>",
    },
    "JWT_AUDIENCE": {
        "LogicalId": "JwtAudience",
        "Description": "Accepted audience(s): the Cognito app client id (comma-separated for several)",
    },
    "JWKS_URL": {
        "LogicalId": "JwksUrl",
        "Description": "Key set URL; empty means <JWT_ISSUER>/.well-known/jwks.json",
    },
    "CURSOR_SECRET": {
        "LogicalId": "CursorSecret",
        "Description": "HMAC key for pagination cursors (at least 32 characters)",
        "NoEcho": True,
        "MinLength": 32,
    },
}


# --- the stage ----------------------------------------------------------------------


@dataclass(frozen=True)
class Throttle:
    """API Gateway's per-stage token bucket: steady requests per second, and burst."""

    rate_limit: float
    burst_limit: int


@dataclass(frozen=True)
class Stage:
    """A Chalice stage as the Lambda sees it: global environment, then the stage's."""

    name: str
    env: dict[str, str]
    lambda_timeout: int = DEFAULT_LAMBDA_TIMEOUT
    throttle: Throttle | None = None

    @property
    def protected(self) -> bool:
        return self.name in PROTECTED_STAGES

    @property
    def bucket(self) -> str:
        return self.env["BUCKET_NAME"]

    @property
    def cors_origins(self) -> tuple[str, ...]:
        raw = self.env.get("CORS_ALLOW_ORIGINS", "")
        return tuple(o.strip() for o in raw.split(",") if o.strip())

    def with_env(self, **overrides: str) -> Stage:
        return Stage(self.name, {**self.env, **overrides}, self.lambda_timeout, self.throttle)


def load_stage(name: str, project_dir: Path = ROOT) -> Stage:
    cfg = json.loads((project_dir / ".chalice" / "config.json").read_text())
    if name not in cfg.get("stages", {}):
        raise SystemExit(f"unknown stage {name!r}; .chalice/config.json has {sorted(cfg['stages'])}")
    stage_cfg = cfg["stages"][name]
    env = {**cfg.get("environment_variables", {}), **stage_cfg.get("environment_variables", {})}
    timeout = int(stage_cfg.get("lambda_timeout", cfg.get("lambda_timeout", DEFAULT_LAMBDA_TIMEOUT)))
    limits = stage_cfg.get("api_throttling")
    throttle = Throttle(float(limits["rate_limit"]), int(limits["burst_limit"])) if limits else None
    return Stage(name, env, timeout, throttle)


@contextmanager
def stage_environment(stage: Stage) -> Iterator[None]:
    """The stage's variables in os.environ while inside, so `chalicelib.config`
    (which reads the environment at call time) answers for this stage."""
    saved = {k: os.environ.get(k) for k in stage.env}
    os.environ.update(stage.env)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def stage_names(stage: Stage) -> dict[str, str]:
    """Physical names for the stage: tables by model, the bucket, the queues."""
    from chalicelib import config
    from chalicelib.models import ALL_MODELS

    with stage_environment(stage):
        names = {model.__name__: str(model.Meta.table_name) for model in ALL_MODELS}
        queue = config.upload_queue_name()
    names["bucket"] = stage.bucket
    names["queue"] = queue
    names["dlq"] = f"{queue}-dlq"
    return names


# --- the app's shape, from Chalice's own application graph -------------------------


@dataclass(frozen=True)
class AppShape:
    """What `chalice package` will emit: function logical ids and whether there is an API."""

    functions: tuple[str, ...]
    has_rest_api: bool
    sqs_queues: tuple[str, ...]
    max_timeout: int
    # (function logical id, event logical id) of each SQS event source
    sqs_events: tuple[tuple[str, str], ...] = ()


def app_shape(stage_name: str, project_dir: Path = ROOT) -> AppShape:
    from chalice.cli.factory import CLIFactory
    from chalice.deploy import models
    from chalice.deploy.appgraph import ApplicationGraphBuilder, DependencyBuilder
    from chalice.utils import to_cfn_resource_name

    config = CLIFactory(str(project_dir)).create_config_obj(chalice_stage_name=stage_name)
    application = ApplicationGraphBuilder().build(config, stage_name)
    resources = DependencyBuilder().build_dependencies(application)
    functions: dict[str, str] = {}
    timeouts: list[int] = []
    queues: list[str] = []
    sqs_events: list[tuple[str, str]] = []
    has_api = False
    for resource in resources:
        if isinstance(resource, models.LambdaFunction):
            functions[resource.resource_name] = to_cfn_resource_name(resource.resource_name)
            timeouts.append(int(resource.timeout or DEFAULT_LAMBDA_TIMEOUT))
        elif isinstance(resource, models.RestAPI):
            has_api = True
            # chalice/package.py renames the REST API's handler to APIHandler.
            functions[resource.lambda_function.resource_name] = "APIHandler"
        elif isinstance(resource, models.SQSEventSource):
            queue = resource.queue
            queues.append(queue.queue_name if isinstance(queue, models.QueueARN) else queue)
            sqs_events.append(
                (
                    to_cfn_resource_name(resource.lambda_function.resource_name),
                    to_cfn_resource_name(resource.resource_name),
                )
            )
    return AppShape(
        functions=tuple(sorted(functions.values())),
        has_rest_api=has_api,
        sqs_queues=tuple(queues),
        max_timeout=max(timeouts, default=DEFAULT_LAMBDA_TIMEOUT),
        sqs_events=tuple(sqs_events),
    )


# --- DynamoDB tables from PynamoDB models -------------------------------------------


def table_logical_id(model: type) -> str:
    """ManifestModel -> ManifestTable. Logical ids must stay stable: renaming one
    makes CloudFormation replace the table."""
    return model.__name__.removesuffix("Model") + "Table"


def _key_schema(keys: list[dict[str, str]]) -> list[dict[str, str]]:
    ordered = sorted(keys, key=lambda k: k["KeyType"] != "HASH")
    return [{"AttributeName": k["AttributeName"], "KeyType": k["KeyType"]} for k in ordered]


def _projection(projection: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"ProjectionType": projection["ProjectionType"]}
    if projection.get("NonKeyAttributes"):
        out["NonKeyAttributes"] = sorted(projection["NonKeyAttributes"])
    return out


def _throughput(meta: Any) -> dict[str, int]:
    return {
        "ReadCapacityUnits": int(getattr(meta, "read_capacity_units", 1)),
        "WriteCapacityUnits": int(getattr(meta, "write_capacity_units", 1)),
    }


def table_properties(model: Any, table_name: str, protected: bool) -> dict[str, Any]:
    """CloudFormation properties of the table a PynamoDB model describes."""
    schema = model._get_schema()
    billing = getattr(model.Meta, "billing_mode", None) or "PAY_PER_REQUEST"
    props: dict[str, Any] = {
        "TableName": table_name,
        "BillingMode": billing,
        "AttributeDefinitions": sorted(
            (
                {"AttributeName": a["AttributeName"], "AttributeType": a["AttributeType"]}
                for a in schema["attribute_definitions"]
            ),
            key=lambda a: a["AttributeName"],
        ),
        "KeySchema": _key_schema(schema["key_schema"]),
    }
    if billing == "PROVISIONED":
        props["ProvisionedThroughput"] = _throughput(model.Meta)
    gsis = []
    for index in sorted(schema["global_secondary_indexes"], key=lambda i: i["index_name"]):
        gsi: dict[str, Any] = {
            "IndexName": index["index_name"],
            "KeySchema": _key_schema(index["key_schema"]),
            "Projection": _projection(index["projection"]),
        }
        if billing == "PROVISIONED":
            gsi["ProvisionedThroughput"] = _throughput(model._indexes[index["index_name"]].Meta)
        gsis.append(gsi)
    if gsis:
        props["GlobalSecondaryIndexes"] = gsis
    lsis = [
        {
            "IndexName": index["index_name"],
            "KeySchema": _key_schema(index["key_schema"]),
            "Projection": _projection(index["projection"]),
        }
        for index in sorted(schema["local_secondary_indexes"], key=lambda i: i["index_name"])
    ]
    if lsis:
        props["LocalSecondaryIndexes"] = lsis
    ttl = model._ttl_attribute()
    if ttl is not None:
        props["TimeToLiveSpecification"] = {"AttributeName": ttl.attr_name, "Enabled": True}
    stream = getattr(model.Meta, "stream_view_type", None)
    if stream:
        props["StreamSpecification"] = {"StreamViewType": stream}
    props["PointInTimeRecoverySpecification"] = {"PointInTimeRecoveryEnabled": True}
    props["DeletionProtectionEnabled"] = protected
    return props


def _retention(stage: Stage) -> dict[str, str]:
    policy = "Retain" if stage.protected else "Delete"
    return {"DeletionPolicy": policy, "UpdateReplacePolicy": policy}


def _tags(stage: Stage) -> list[dict[str, str]]:
    return [{"Key": "app", "Value": "vidpipe-manifests"}, {"Key": "stage", "Value": stage.name}]


def table_resources(stage: Stage) -> dict[str, Any]:
    from chalicelib.models import ALL_MODELS

    names = stage_names(stage)
    resources = {}
    for model in ALL_MODELS:
        props = table_properties(model, names[model.__name__], stage.protected)
        props["Tags"] = _tags(stage)
        resources[table_logical_id(model)] = {
            "Type": "AWS::DynamoDB::Table",
            **_retention(stage),
            "Properties": props,
        }
    return resources


# --- bucket and queues --------------------------------------------------------------


def cors_rule(origins: tuple[str, ...]) -> dict[str, Any]:
    """Browsers PUT uploads to presigned URLs and GET images from the bucket. The
    presigned signature decides which headers are valid, so headers are not narrowed
    further than what the app's own provisioning sets (tests compare the two)."""
    return {
        "AllowedOrigins": list(origins),
        "AllowedMethods": ["GET", "PUT", "HEAD"],
        "AllowedHeaders": ["Content-Type", "Content-Length"],
        "ExposedHeaders": ["ETag"],
        "MaxAge": 3600,
    }


def storage_resources(stage: Stage, shape: AppShape) -> dict[str, Any]:
    names = stage_names(stage)
    bucket_arn = {"Fn::Sub": f"arn:${{AWS::Partition}}:s3:::{names['bucket']}"}
    bucket_props: dict[str, Any] = {
        "BucketName": names["bucket"],
        "BucketEncryption": {
            "ServerSideEncryptionConfiguration": [
                {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": True}
            ]
        },
        "PublicAccessBlockConfiguration": {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        },
        "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
        "LifecycleConfiguration": {
            "Rules": [
                {
                    "Id": "abort-unfinished-multipart-uploads",
                    "Status": "Enabled",
                    "Prefix": "",
                    "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": ABANDONED_MULTIPART_DAYS},
                },
                {
                    "Id": "expire-upload-staging",
                    "Status": "Enabled",
                    "Prefix": UPLOAD_PREFIX,
                    "ExpirationInDays": STAGING_EXPIRY_DAYS,
                },
            ]
        },
        "NotificationConfiguration": {
            "QueueConfigurations": [
                {
                    "Event": "s3:ObjectCreated:*",
                    "Queue": {"Fn::GetAtt": ["UploadEventsQueue", "Arn"]},
                    "Filter": {"S3Key": {"Rules": [{"Name": "prefix", "Value": UPLOAD_PREFIX}]}},
                }
            ]
        },
        "Tags": _tags(stage),
    }
    if stage.cors_origins:
        bucket_props["CorsConfiguration"] = {"CorsRules": [cors_rule(stage.cors_origins)]}
    visibility = max(30, VISIBILITY_TIMEOUT_FACTOR * max(shape.max_timeout, stage.lambda_timeout))
    return {
        "AssetsBucket": {
            "Type": "AWS::S3::Bucket",
            # S3 checks the queue policy when the notification is configured.
            "DependsOn": ["UploadEventsQueuePolicy"],
            **_retention(stage),
            "Properties": bucket_props,
        },
        "AssetsBucketPolicy": {
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {
                "Bucket": {"Ref": "AssetsBucket"},
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "DenyInsecureTransport",
                            "Effect": "Deny",
                            "Principal": "*",
                            "Action": "s3:*",
                            "Resource": [bucket_arn, {"Fn::Sub": f"{bucket_arn['Fn::Sub']}/*"}],
                            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                        }
                    ],
                },
            },
        },
        "UploadEventsDeadLetterQueue": {
            "Type": "AWS::SQS::Queue",
            **_retention(stage),
            "Properties": {
                "QueueName": names["dlq"],
                "MessageRetentionPeriod": DLQ_RETENTION_SECONDS,
                "SqsManagedSseEnabled": True,
                "Tags": _tags(stage),
            },
        },
        "UploadEventsQueue": {
            "Type": "AWS::SQS::Queue",
            **_retention(stage),
            "Properties": {
                "QueueName": names["queue"],
                "MessageRetentionPeriod": QUEUE_RETENTION_SECONDS,
                "VisibilityTimeout": visibility,
                "SqsManagedSseEnabled": True,
                "RedrivePolicy": {
                    "deadLetterTargetArn": {"Fn::GetAtt": ["UploadEventsDeadLetterQueue", "Arn"]},
                    "maxReceiveCount": DLQ_MAX_RECEIVE_COUNT,
                },
                "Tags": _tags(stage),
            },
        },
        "UploadEventsQueuePolicy": {
            "Type": "AWS::SQS::QueuePolicy",
            "Properties": {
                "Queues": [{"Ref": "UploadEventsQueue"}],
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "AllowBucketNotifications",
                            "Effect": "Allow",
                            "Principal": {"Service": "s3.amazonaws.com"},
                            "Action": "sqs:SendMessage",
                            "Resource": {"Fn::GetAtt": ["UploadEventsQueue", "Arn"]},
                            "Condition": {
                                "ArnLike": {"aws:SourceArn": bucket_arn},
                                "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
                            },
                        }
                    ],
                },
            },
        },
    }


# --- what is merged into Chalice's own resources ------------------------------------


def gateway_responses(stage: Stage) -> dict[str, Any]:
    """Errors API Gateway answers itself (unknown route, throttling, integration
    failure) in our error shape, readable by the allowed browser origins.

    API Gateway cannot test an allow-list: with one allowed origin the header is
    that constant; with several it echoes the request's Origin (plus Vary), so
    these bodies, which never carry user data, are readable by any origin.
    """
    params: dict[str, str] = {}
    origins = stage.cors_origins
    if len(origins) == 1:
        params["gatewayresponse.header.Access-Control-Allow-Origin"] = f"'{origins[0]}'"
    elif origins:
        params["gatewayresponse.header.Access-Control-Allow-Origin"] = "method.request.header.Origin"
        params["gatewayresponse.header.Vary"] = "'Origin'"
    response: dict[str, Any] = {"responseTemplates": {"application/json": GATEWAY_ERROR_BODY}}
    not_found: dict[str, Any] = {
        "statusCode": "404",
        "responseTemplates": {"application/json": NOT_FOUND_BODY},
    }
    if params:
        response["responseParameters"] = params
        not_found["responseParameters"] = params
    return {**{kind: response for kind in GATEWAY_RESPONSE_TYPES}, NOT_FOUND_RESPONSE_TYPE: not_found}


def throttled_response(stage: Stage) -> dict[str, Any]:
    """API Gateway's own 429 (stage or account limit hit): our error shape, the
    same CORS headers as the other gateway errors, and Retry-After."""
    cors = gateway_responses(stage)["DEFAULT_4XX"].get("responseParameters", {})
    params = {**cors, "gatewayresponse.header.Retry-After": f"'{THROTTLED_RETRY_AFTER_SECONDS}'"}
    return {
        "statusCode": "429",
        "responseParameters": params,
        "responseTemplates": {"application/json": GATEWAY_ERROR_BODY},
    }


def stage_method_settings(stage: Stage) -> list[dict[str, Any]]:
    """Rate and burst for every method of the stage (SAM's `MethodSettings`)."""
    if stage.throttle is None:
        return []
    return [
        {
            "ResourcePath": "/*",
            "HttpMethod": "*",
            "ThrottlingRateLimit": stage.throttle.rate_limit,
            "ThrottlingBurstLimit": stage.throttle.burst_limit,
        }
    ]


def parameters(stage: Stage) -> dict[str, Any]:
    out = {}
    for env_name, spec in DEPLOY_PARAMETERS.items():
        param: dict[str, Any] = {"Type": "String", "Description": spec["Description"]}
        for key in ("NoEcho", "MinLength"):
            if key in spec:
                param[key] = spec[key]
        default = stage.env.get(env_name)
        if default is not None:
            param["Default"] = default
        elif "MinLength" not in spec:
            param["Default"] = ""
        out[spec["LogicalId"]] = param
    return out


def function_overlays(stage: Stage, shape: AppShape, owned: list[str]) -> dict[str, Any]:
    """Partial resources deep-merged into Chalice's functions: our runtime (not
    the builder's Python), the deploy-time variables, and DependsOn our resources
    so no function (nor the SQS event source mapping SAM derives from one) exists
    before what it uses."""
    variables = {env: {"Ref": spec["LogicalId"]} for env, spec in DEPLOY_PARAMETERS.items()}
    overlays: dict[str, Any] = {
        name: {
            "DependsOn": sorted(owned),
            "Properties": {"Runtime": LAMBDA_RUNTIME, "Environment": {"Variables": variables}},
        }
        for name in shape.functions
    }
    # SQS handlers answer `batchItemFailures` (Powertools BatchProcessor); the
    # mapping must say so, or Lambda ignores the answer and retries whole batches.
    for function, event in shape.sqs_events:
        events = overlays[function]["Properties"].setdefault("Events", {})
        events[event] = {"Properties": {"FunctionResponseTypes": ["ReportBatchItemFailures"]}}
    return overlays


def build_template(stage: Stage, shape: AppShape) -> dict[str, Any]:
    resources: dict[str, Any] = {**table_resources(stage), **storage_resources(stage, shape)}
    owned = list(resources)
    resources.update(function_overlays(stage, shape, owned))
    if shape.has_rest_api:
        responses = {**gateway_responses(stage), "THROTTLED": throttled_response(stage)}
        api: dict[str, Any] = {
            "DefinitionBody": {
                "x-amazon-apigateway-gateway-responses": responses,
                # Every media type: API Gateway then decodes any base64 body the Lambda
                # returns (gzip answers, chalicelib.http.fit_response) and passes request
                # bodies base64, which Chalice's Request decodes; text answers
                # (isBase64Encoded false) pass through unchanged.
                "x-amazon-apigateway-binary-media-types": BINARY_MEDIA_TYPES,
            }
        }
        settings = stage_method_settings(stage)
        if settings:
            api["MethodSettings"] = settings
        resources["RestAPI"] = {"Properties": api}
    outputs = {
        "AssetsBucketName": {"Value": {"Ref": "AssetsBucket"}},
        "UploadEventsQueueUrl": {"Value": {"Ref": "UploadEventsQueue"}},
        "UploadEventsDeadLetterQueueUrl": {"Value": {"Ref": "UploadEventsDeadLetterQueue"}},
        "TablePrefix": {"Value": stage.env["TABLE_PREFIX"]},
    }
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"vidpipe-manifests ({stage.name}): tables, bucket and queues from the models",
        "Parameters": parameters(stage),
        "Resources": resources,
        "Outputs": outputs,
    }


def owned_resource_ids(template: dict[str, Any]) -> list[str]:
    """Logical ids of the complete resources this generator emits (not overlays)."""
    return [name for name, res in template["Resources"].items() if "Type" in res]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--stage", default="dev")
    parser.add_argument("--output", help="file to write (default: stdout)")
    parser.add_argument("--project-dir", default=str(ROOT))
    args = parser.parse_args(argv)
    project_dir = Path(args.project_dir).resolve()
    stage = load_stage(args.stage, project_dir)
    with stage_environment(stage):  # import-time values in app.py resolve for this stage
        shape = app_shape(args.stage, project_dir)
    text = json.dumps(build_template(stage, shape), indent=2, sort_keys=False) + "\n"
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
