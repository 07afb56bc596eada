"""Fixtures for the deployment tests: the packaged template, the CloudFormation
stack it creates in moto, and a recording of the AWS calls the app makes."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from infra.package import package
from infra.template import Stage, owned_resource_ids
from tests.infra.flows import FlowContext, isolated_stage, run_flows
from tests.infra.recorder import Call, Recorder

SMOKE_STAGE = "dev"


@dataclass
class Packaged:
    stage: str
    sam: dict[str, Any]
    merge: dict[str, Any]
    template_path: Path


@pytest.fixture(scope="session")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Packaged]:
    """`chalice package` of every deployable stage with the generated merge template
    (the app's dependencies left out: the template does not depend on them)."""
    out = {}
    for stage in ("dev", "prod"):
        where = tmp_path_factory.mktemp(f"package-{stage}")
        report = package(stage, where, with_dependencies=False)
        out[stage] = Packaged(
            stage=stage,
            sam=json.loads(Path(report["template"]).read_text()),
            merge=json.loads((where / "merge.json").read_text()),
            template_path=Path(report["template"]),
        )
    return out


def aws(service: str, endpoint: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def moto_template(p: Packaged) -> dict[str, Any]:
    """The packaged template less what Chalice adds (functions, API, roles): the
    resources the generator owns, as merged, and their outputs."""
    owned = owned_resource_ids(p.merge)
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {name: p.sam["Resources"][name] for name in owned},
        "Outputs": {k: v for k, v in p.sam["Outputs"].items() if k in p.merge["Outputs"]},
    }


@pytest.fixture(scope="session")
def cfn_stack(backend: dict[str, str], packaged: dict[str, Packaged]) -> dict[str, str]:
    """The dev stage's merged resources, created by moto's CloudFormation."""
    cfn = aws("cloudformation", backend["DYNAMODB_ENDPOINT_URL"])
    name = f"vidpipe-manifests-{SMOKE_STAGE}-smoke-{uuid.uuid4().hex[:6]}"
    cfn.create_stack(StackName=name, TemplateBody=json.dumps(moto_template(packaged[SMOKE_STAGE])))
    stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack
    return {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}


@dataclass
class Recording:
    calls: list[Call]
    stage: Stage  # the isolated stage the flows ran in (its own tables, bucket, queue)


@pytest.fixture(scope="session")
def recording(backend: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Recording:
    """Every AWS call the representative flows make, recorded on the second run
    (the first creates the app's lazily built clients, so they can be found)."""
    prefix = f"iam-{uuid.uuid4().hex[:8]}"
    recorder = Recorder()
    with isolated_stage(tmp_path_factory.mktemp("iam"), prefix) as (client, env):
        ctx = FlowContext(client, env, recorder)
        run_flows(ctx)
        assert recorder.attach_to_live_clients() > 0
        try:
            run_flows(ctx)
        finally:
            recorder.detach()
        result = Recording(list(recorder.calls), Stage("isolated", env))
    return result
