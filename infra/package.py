"""`make package STAGE=dev`: the merge template, then `chalice package` with it.

    python -m infra.package --stage dev [--out build/dev]

Writes <out>/merge.json (our resources) and <out>/package/{sam.json,deployment.zip}.
Needs no AWS credentials; AWS_DEFAULT_REGION defaults to us-east-1 (the template
itself is region-independent). `chalice package` runs with the stage's
environment, so values app.py computes at import time (the SQS queue name)
resolve for that stage; the result is checked against the generated resources.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

from infra.template import ROOT, load_stage, stage_names


class PackageError(RuntimeError):
    pass


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


def _project_without_dependencies(project_dir: Path, into: Path) -> Path:
    """A copy of what Chalice packages, with an empty requirements.txt.

    Chalice keys its dependency cache on requirements.txt *and* the app's source,
    so every code change re-downloads every wheel (about a minute). The template
    does not depend on the dependencies, so tests package this copy instead.
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
    return copy


def package(
    stage_name: str, out: Path, project_dir: Path = ROOT, *, with_dependencies: bool = True
) -> dict[str, Any]:
    if not with_dependencies:
        with tempfile.TemporaryDirectory() as tmp:
            return package(
                stage_name, out, _project_without_dependencies(project_dir, Path(tmp)), with_dependencies=True
            )
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
    with zipfile.ZipFile(zip_path) as zf:
        unzipped = sum(i.file_size for i in zf.infolist())
    return {
        "stage": stage_name,
        "template": str(pkg / "sam.json"),
        "zip": str(zip_path),
        "zip_bytes": zip_path.stat().st_size,
        "unzipped_bytes": unzipped,
        "resources": dict(Counter(r["Type"] for r in sam["Resources"].values())),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--stage", default="dev")
    parser.add_argument("--out", help="output directory (default: build/<stage>)")
    args = parser.parse_args(argv)
    out = Path(args.out or ROOT / "build" / args.stage).resolve()
    try:
        report = package(args.stage, out)
    except PackageError as exc:
        print(exc, file=sys.stderr)
        return 1
    mib = 1024 * 1024
    print(f"stage {report['stage']}: {report['template']}")
    print(
        f"zip {report['zip']}: {report['zip_bytes'] / mib:.1f} MiB "
        f"({report['unzipped_bytes'] / mib:.1f} MiB unzipped; Lambda allows 250 MiB unzipped)"
    )
    for kind, count in sorted(report["resources"].items()):
        print(f"  {count:3d} {kind}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
