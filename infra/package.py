"""`make package STAGE=dev`: the merge template, then `chalice package` with it.

    python -m infra.package --stage dev [--out build/dev]

Writes <out>/merge.json (our resources) and <out>/package/{sam.json,deployment.zip}.
Needs no AWS credentials; AWS_DEFAULT_REGION defaults to us-east-1 (the template
itself is region-independent). `chalice package` runs with the stage's
environment, so values app.py computes at import time (the SQS queue name)
resolve for that stage; the result is checked against the generated resources.

The dependencies are manylinux wheels for the Lambda runtime (infra/wheels.py),
installed once per requirements hash under build/lambda-deps/ and handed to
Chalice as vendor/; the zip is refused if any compiled file in it could not load
on that runtime.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

from infra.template import LAMBDA_RUNTIME, ROOT, load_stage, stage_names
from infra.wheels import WheelError, dependency_tree, zip_problems


class PackageError(RuntimeError):
    pass


PACKAGE_BUDGET_BYTES = 20_000_000  # docs/DEPLOY.md: cold starts and upload time grow with the zip


def sqs_event_queue_name(queue: Any) -> str:
    """Chalice writes a queue ARN, literal or as `Fn::Sub` of `arn:...:<name>`."""
    arn = queue["Fn::Sub"] if isinstance(queue, dict) else str(queue)
    return str(arn).rpartition(":")[2]


def check_packaged(sam: dict[str, Any], queue_name: str) -> None:
    """Every SQS event source Chalice emitted must name the queue we create."""
    for name, res in sam["Resources"].items():
        for event in (res.get("Properties", {}).get("Events") or {}).values():
            if event.get("Type") != "SQS":
                continue
            listened = sqs_event_queue_name(event["Properties"]["Queue"])
            if listened != queue_name:
                raise PackageError(f"{name} listens to {listened!r}, but the template creates {queue_name!r}")
        if "Type" not in res:
            raise PackageError(f"merged resource {name} has no Type: it matched nothing Chalice emitted")


def _project_copy(project_dir: Path, into: Path, vendor: Path | None) -> Path:
    """A copy of what Chalice packages, with an empty requirements.txt and, as
    vendor/, the dependencies already installed for the runtime (or none).

    Chalice's own dependency builder never runs: it targets the builder's Python,
    builds from source when no wheel fits, and keys its cache on the app's source
    too, so every code change downloaded every wheel again.
    """
    copy = into / "project"
    copy.mkdir(parents=True)
    shutil.copy2(project_dir / "app.py", copy / "app.py")
    shutil.copytree(
        project_dir / "chalicelib", copy / "chalicelib", ignore=shutil.ignore_patterns("__pycache__")
    )
    chalice_dir = copy / ".chalice"
    chalice_dir.mkdir()
    for src in (project_dir / ".chalice").glob("*.json"):
        shutil.copy2(src, chalice_dir / src.name)
    (copy / "requirements.txt").write_text("")
    if vendor is not None:
        shutil.copytree(vendor, copy / "vendor", ignore=shutil.ignore_patterns(".complete"))
    return copy


def package(
    stage_name: str, out: Path, project_dir: Path = ROOT, *, with_dependencies: bool = True
) -> dict[str, Any]:
    """`with_dependencies=False` packages the app alone: the template does not
    depend on the dependencies, so template tests need not install them."""
    vendor = dependency_tree(project_dir / "requirements.txt") if with_dependencies else None
    with tempfile.TemporaryDirectory() as tmp:
        return _package(stage_name, out, _project_copy(project_dir, Path(tmp), vendor))


def _package(stage_name: str, out: Path, project_dir: Path) -> dict[str, Any]:
    stage = load_stage(stage_name, project_dir)
    merge = out / "merge.json"
    pkg = out / "package"
    out.mkdir(parents=True, exist_ok=True)
    if pkg.exists():
        shutil.rmtree(pkg)
    env = {**os.environ, **stage.env}
    env.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    for var in ("DYNAMODB_ENDPOINT_URL", "S3_ENDPOINT_URL", "AWS_ENDPOINT_URL"):
        env.pop(var, None)
    # Both steps import app.py in a fresh process with the stage's environment,
    # so import-time values (the SQS queue name) resolve as they will on Lambda.
    bindir = Path(sys.executable).parent
    generate = [sys.executable, "-m", "infra.template", "--stage", stage_name]
    generate += ["--project-dir", str(project_dir), "--output", str(merge)]
    chalice = [str(bindir / "chalice"), "--project-dir", str(project_dir), "package", "--stage", stage_name]
    chalice += ["--merge-template", str(merge), str(pkg)]
    for cmd in (generate, chalice):
        result = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
        if result.returncode != 0:
            raise PackageError(f"{' '.join(cmd[:4])} failed:\n{result.stdout}\n{result.stderr}")
    sam = json.loads((pkg / "sam.json").read_text())
    check_packaged(sam, stage_names(stage)["queue"])
    zip_path = pkg / "deployment.zip"
    problems = zip_problems(zip_path)
    if problems:
        raise PackageError("the zip would not load on " + LAMBDA_RUNTIME + ":\n" + "\n".join(problems))
    with zipfile.ZipFile(zip_path) as zf:
        unzipped = sum(i.file_size for i in zf.infolist())
        by_top: Counter[str] = Counter()
        for info in zf.infolist():
            by_top[top_level_name(info.filename)] += info.compress_size
    return {
        "stage": stage_name,
        "template": str(pkg / "sam.json"),
        "zip": str(zip_path),
        "zip_bytes": zip_path.stat().st_size,
        "unzipped_bytes": unzipped,
        "resources": dict(Counter(r["Type"] for r in sam["Resources"].values())),
        "largest": by_top.most_common(8),
    }


def top_level_name(path: str) -> str:
    """What a zip entry belongs to: a package, a module, or a wheel's bundled libs."""
    first = path.split("/", 1)[0]
    return first.split(".", 1)[0] if first.endswith(".py") else first


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--stage", default="dev")
    parser.add_argument("--out", help="output directory (default: build/<stage>)")
    args = parser.parse_args(argv)
    out = Path(args.out or ROOT / "build" / args.stage).resolve()
    started = time.monotonic()
    try:
        report = package(args.stage, out)
    except (PackageError, WheelError) as exc:
        print(exc, file=sys.stderr)
        return 1
    mib = 1024 * 1024
    print(f"stage {report['stage']} ({LAMBDA_RUNTIME}): {report['template']}")
    print(
        f"zip {report['zip']}: {report['zip_bytes'] / 1e6:.1f} MB = {report['zip_bytes'] / mib:.1f} MiB "
        f"(budget {PACKAGE_BUDGET_BYTES / 1e6:.0f} MB; {report['unzipped_bytes'] / mib:.1f} MiB unzipped, "
        f"Lambda allows 250 MiB) in {time.monotonic() - started:.0f} s"
    )
    print("  largest: " + ", ".join(f"{name} {size / mib:.1f}" for name, size in report["largest"]))
    for kind, count in sorted(report["resources"].items()):
        print(f"  {count:3d} {kind}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
