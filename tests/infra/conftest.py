"""Fixtures for the deployment tests: the packaged template, the CloudFormation
stack it creates in moto, and a recording of the AWS calls the app makes."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from infra.package import package
from infra.template import Stage, owned_resource_ids
from infra.wheels import keep_newest
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


# --- the real deployment package, with its dependencies ---------------------------------

LAMBDA_STAGE = "dev"


@dataclass
class LambdaBuild:
    zip_path: Path
    sam: dict[str, Any]
    tree: Path  # the zip, unzipped


def _build_key() -> str:
    """Everything that decides the zip's content: dependencies, code, config, packager."""
    from infra.template import ROOT

    digest = hashlib.sha256()
    files = [ROOT / "requirements.txt", ROOT / "app.py"]
    for pattern in ("chalicelib/**/*.py", ".chalice/*.json", "infra/*.py", "infra/*.txt"):
        files += sorted(ROOT.glob(pattern))
    for path in files:
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


@pytest.fixture(scope="session")
def lambda_build(tmp_path_factory: pytest.TempPathFactory) -> LambdaBuild:
    """`make package`'s zip for the dev stage, built once per content hash under
    build/test-package/ (a rebuild takes seconds once the wheels are cached, the
    first one a minute: pip downloads them)."""
    from infra.template import ROOT

    out = ROOT / "build" / "test-package" / _build_key()
    zip_path = out / "package" / "deployment.zip"
    if not (out / ".complete").exists():
        shutil.rmtree(out, ignore_errors=True)
        package(LAMBDA_STAGE, out)
        (out / ".complete").write_text("")
        keep_newest(out.parent, 3)
    tree = tmp_path_factory.mktemp("lambda-tree")
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(tree)
    return LambdaBuild(zip_path, json.loads((out / "package" / "sam.json").read_text()), tree)


def runtime_python() -> Path:
    """The interpreter of the Lambda runtime's Python version: $LAMBDA_PYTHON_BIN, pyenv's
    (`pyenv root`, $PYENV_ROOT, ~/.pyenv, /root/.pyenv), or on PATH."""
    from infra.wheels import LAMBDA_PYTHON

    major, minor = LAMBDA_PYTHON
    name = f"python{major}.{minor}"
    candidates = [Path(os.environ["LAMBDA_PYTHON_BIN"])] if os.environ.get("LAMBDA_PYTHON_BIN") else []
    roots = [Path.home() / ".pyenv", Path("/root/.pyenv")]
    if os.environ.get("PYENV_ROOT"):
        roots.insert(0, Path(os.environ["PYENV_ROOT"]))
    pyenv = shutil.which("pyenv") or next(
        (str(r / "bin" / "pyenv") for r in roots if (r / "bin" / "pyenv").exists()), None
    )
    if pyenv:
        found = subprocess.run([pyenv, "root"], capture_output=True, text=True).stdout.strip()
        if found:
            roots.insert(0, Path(found))
    for root in roots:
        versions = (root / "versions").glob(f"{major}.{minor}.*")
        for version in sorted(
            versions, key=lambda p: [int(x) for x in re.findall(r"\d+", p.name)], reverse=True
        ):
            candidates.append(version / "bin" / name)
    on_path = shutil.which(name)
    if on_path:
        candidates.append(Path(on_path))
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    pytest.fail(
        f"No {name} found (looked at $LAMBDA_PYTHON_BIN, pyenv's versions under "
        f"{', '.join(map(str, roots))}, and PATH). The Lambda runtime is {name}: install it "
        f"(`pyenv install {major}.{minor}`) or set LAMBDA_PYTHON_BIN=/path/to/{name}."
    )


@pytest.fixture(scope="session")
def lambda_probe(lambda_build: LambdaBuild, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Facts from loading the unzipped package in the runtime's Python (lambda_probe.py):
    Pillow's codecs, thumbnails of a JPEG and a PNG, `import app`, AWS clients."""
    from PIL import Image

    from infra.template import load_stage
    from infra.wheels import BOTOCORE_SERVICES

    images = tmp_path_factory.mktemp("probe-images")
    photo = Image.linear_gradient("L").convert("RGB").resize((800, 600))
    photo.save(images / "photo.jpg", format="JPEG", quality=85)
    Image.new("RGBA", (640, 640), (10, 120, 200, 128)).save(images / "logo.png", format="PNG")
    env = {
        "PATH": os.environ.get("PATH", ""),
        **load_stage(LAMBDA_STAGE).env,
        "AWS_DEFAULT_REGION": "us-east-1",
        "PROBE_AWS_SERVICES": ",".join(BOTOCORE_SERVICES),
    }
    probe = Path(__file__).parent / "lambda_probe.py"
    cmd = [str(runtime_python()), "-I", "-S", str(probe), str(lambda_build.tree)]
    cmd += [str(images / "photo.jpg"), str(images / "logo.png")]
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    facts: dict[str, Any] = json.loads(result.stdout)
    return facts
