"""`chalice package` with the generated merge template: what `make package` builds.

The template tests package the app alone (`packaged`); the zip tests open the real
zip with its dependencies (`lambda_build`) and load it in the runtime's Python
(`lambda_probe`), because a zip that imports on the build host can still fail
on Lambda (a host-built Pillow once needed libjpeg the Lambda does not have).
"""

from __future__ import annotations

import re
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from chalicelib.models import ALL_MODELS
from infra.package import PACKAGE_BUDGET_BYTES, PackageError, check_packaged, sqs_event_queue_name
from infra.template import LAMBDA_RUNTIME, ROOT, load_stage, owned_resource_ids, stage_names, table_logical_id
from infra.wheels import BOTOCORE_SERVICES, CONSTRAINTS, LAMBDA_PYTHON, elf_needed, zip_problems

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
    assert {"UNAUTHORIZED", "ACCESS_DENIED", "DEFAULT_4XX", "MISSING_AUTHENTICATION_TOKEN"} <= set(
        body["x-amazon-apigateway-gateway-responses"]
    )


def test_the_packaged_api_decodes_every_base64_answer(packaged):
    """gzip answers are base64 in the Lambda envelope; API Gateway must turn them
    back into bytes whatever the client's Accept header says."""
    body = packaged["dev"].sam["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]
    assert body["x-amazon-apigateway-binary-media-types"] == ["*/*"]


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


# --- the zip itself, as the Lambda runtime loads it ---------------------------------


@pytest.mark.parametrize("stage", STAGES)
def test_every_function_runs_on_the_runtime_the_dependencies_are_built_for(packaged, stage):
    functions = [
        r for r in packaged[stage].sam["Resources"].values() if r["Type"] == "AWS::Serverless::Function"
    ]
    assert len(functions) == 4
    assert {f["Properties"]["Runtime"] for f in functions} == {LAMBDA_RUNTIME}


def test_every_compiled_file_in_the_zip_comes_from_a_manylinux_wheel_for_the_runtime(lambda_build):
    assert zip_problems(lambda_build.zip_path) == []
    with zipfile.ZipFile(lambda_build.zip_path) as zf:
        names = zf.namelist()
        pillow_wheel = next(n for n in names if re.fullmatch(r"pillow-[^/]+\.dist-info/WHEEL", n))
        tags = [line for line in zf.read(pillow_wheel).decode().splitlines() if line.startswith("Tag:")]
    assert any(n.startswith("PIL/_imaging.cpython-") for n in names), "the check saw Pillow's extensions"
    assert tags and all("manylinux" in t for t in tags), tags


def _elf(needed: list[str]) -> bytes:
    """A minimal x86_64 shared object whose dynamic section needs `needed`."""
    strtab = b"\0" + b"".join(name.encode() + b"\0" for name in needed)
    dynamic_at = 64 + 2 * 56
    entries = [(1, 1 + sum(len(n) + 1 for n in needed[:i])) for i in range(len(needed))]
    strtab_at = dynamic_at + 16 * (len(entries) + 2)
    entries += [(5, strtab_at), (0, 0)]  # DT_STRTAB (its address = its offset), DT_NULL
    size = strtab_at + len(strtab)
    header = b"\x7fELF\x02\x01\x01" + bytes(9)
    header += struct.pack("<HHIQQQIHHHHHH", 3, 62, 1, 0, 64, 0, 0, 64, 56, 2, 64, 0, 0)
    load = struct.pack("<IIQQQQQQ", 1, 5, 0, 0, 0, size, size, 0x1000)
    dynamic = struct.pack("<IIQQQQQQ", 2, 6, dynamic_at, dynamic_at, dynamic_at, 16 * len(entries), 0, 8)
    body = b"".join(struct.pack("<qQ", tag, value) for tag, value in entries)
    return header + load + dynamic + body + strtab


def test_the_elf_reader_sees_what_an_extension_needs():
    assert elf_needed(_elf(["libjpeg.so.62", "libc.so.6"])) == ["libjpeg.so.62", "libc.so.6"]


def _fake_zip(
    path: Path, tag: str, extension: str, recorded: bool = True, needs: tuple[str, ...] = ("libc.so.6",)
) -> Path:
    bundled = [f"fake.libs/{lib}" for lib in needs if "-" in lib]  # auditwheel's renamed copies
    record = "".join(f"{name},,\n" for name in ([extension] if recorded else []) + bundled)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("fake-1.0.dist-info/WHEEL", f"Wheel-Version: 1.0\nRoot-Is-Purelib: false\nTag: {tag}\n")
        zf.writestr("fake-1.0.dist-info/RECORD", record)
        zf.writestr(extension, _elf(list(needs)))
        for name in bundled:
            zf.writestr(name, _elf(["libc.so.6"]))
    return path


HOST_BUILT = "fake/_c.cpython-312-x86_64-linux-gnu.so"


@pytest.mark.parametrize(
    ("tag", "extension", "recorded", "needs", "why"),
    [
        ("cp312-cp312-linux_x86_64", HOST_BUILT, True, ("libc.so.6",), "linux_x86_64"),
        ("cp312-cp312-manylinux_2_35_x86_64", HOST_BUILT, True, ("libc.so.6",), "2_35"),
        ("cp311-cp311-manylinux_2_28_x86_64", "fake/_c.cpython-311-x86_64-linux-gnu.so", True, (), "311"),
        (
            "cp312-cp312-manylinux_2_28_aarch64",
            "fake/_c.cpython-312-aarch64-linux-gnu.so",
            True,
            (),
            "aarch64",
        ),
        ("cp312-cp312-manylinux_2_28_x86_64", HOST_BUILT, False, ("libc.so.6",), "no installed"),
        ("cp312-cp312-manylinux_2_28_x86_64", HOST_BUILT, True, ("libjpeg.so.62", "libc.so.6"), "libjpeg"),
    ],
)
def test_the_zip_check_refuses_what_the_runtime_cannot_load(tmp_path, tag, extension, recorded, needs, why):
    problems = zip_problems(_fake_zip(tmp_path / "fake.zip", tag, extension, recorded, needs))
    assert problems and why in " ".join(problems), problems


@pytest.mark.parametrize(
    "tag",
    [
        "cp312-cp312-manylinux_2_34_x86_64",
        "cp311-abi3-manylinux_2_28_x86_64",
        "cp312-cp312-manylinux2014_x86_64",
    ],
)
def test_the_zip_check_accepts_wheels_the_runtime_loads_with_their_bundled_libraries(tmp_path, tag):
    extension = "fake/_c.abi3.so" if "abi3" in tag else HOST_BUILT
    needs = ("libjpeg-6dc8d115.so.62.4.0", "libz.so.1", "libc.so.6")
    assert zip_problems(_fake_zip(tmp_path / "fake.zip", tag, extension, needs=needs)) == []


def test_the_zip_fits_the_package_budget(lambda_build):
    size = lambda_build.zip_path.stat().st_size
    assert size <= PACKAGE_BUDGET_BYTES == 20_000_000, f"{size / 1e6:.1f} MB"


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==")
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version.strip()
    return pins


def test_every_distribution_in_the_zip_is_pinned_to_the_version_it_holds(lambda_build):
    pinned = {**_pins(CONSTRAINTS), **_pins(ROOT / "requirements.txt")}
    with zipfile.ZipFile(lambda_build.zip_path) as zf:
        held = {
            re.sub(r"[-_.]+", "-", m.group(1)).lower(): m.group(2)
            for n in zf.namelist()
            if (m := re.fullmatch(r"([^/]+)-([^-/]+)\.dist-info/METADATA", n))
        }
    assert held, "the zip holds the dependencies"
    assert {name: pinned.get(name) for name in held} == held


def test_pillow_in_the_zip_has_jpeg_png_and_webp_on_the_runtime_python(lambda_probe):
    assert lambda_probe["python"] == list(LAMBDA_PYTHON)
    pillow = lambda_probe["pillow"]
    assert pillow.get("from", "").startswith("PIL/"), pillow
    assert pillow["features"] == {"jpg": True, "zlib": True, "webp": True, "avif": False}


def test_the_zipped_app_makes_webp_thumbnails_of_a_jpeg_and_a_png_on_the_runtime_python(lambda_probe):
    assert lambda_probe["thumbnails"] == {
        "photo.jpg": {"input": "image/jpeg", "output": "WEBP", "size": [512, 384]},
        "logo.png": {"input": "image/png", "output": "WEBP", "size": [512, 512]},
    }


def test_the_app_imports_from_the_unzipped_tree_on_the_runtime_python(lambda_probe):
    assert lambda_probe["app"] == {"app_name": "vidpipe-manifests", "in_tree": True}


def test_the_zipped_botocore_creates_a_client_for_every_service_it_keeps(lambda_probe):
    aws = lambda_probe["aws"]
    assert aws.get("from", "").startswith("botocore/"), aws
    assert aws["clients"] == {s: s for s in BOTOCORE_SERVICES}


def test_the_code_calls_no_aws_service_whose_botocore_model_the_zip_leaves_out(recording):
    called = {call.service for call in recording.calls}
    assert called, "the flows made AWS calls"
    assert called <= set(BOTOCORE_SERVICES), called - set(BOTOCORE_SERVICES)
