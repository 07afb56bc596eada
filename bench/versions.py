"""make bench (versions): freezing a manifest of 100 and 500 assets, reading a
pinned version, and what editing an unfrozen working version costs.

Each manifest is seeded through the models (assets at the schema's maximum
field lengths, every asset with its own image reference), then every operation
goes through the real app (`chalice.test.Client`) against a moto server over
HTTP in its own process. DynamoDB calls and items read come from botocore's
events on PynamoDB's clients (bench/instrument.py), S3 calls from the same
events on the storage client.

    .venv/bin/python bench/versions.py [--sizes 100,500] [--repeat 5] [--versions 20]
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import statistics
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

from bench.instrument import DynamoDBMeter  # noqa: E402

MAX_TEXT = "é" * 2000  # ShortText limit, 2 bytes a character in UTF-8
MAX_LONG = "ü" * 8000  # LongText limit
MAX_TAGS = [f"tag-{n:02d}-" + "x" * 43 for n in range(20)]  # 20 tags of 50 characters


class S3Meter:
    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.bytes_read = 0

    def attach(self, client: Any) -> None:
        client.meta.events.register("after-call.s3", self._after_call)

    def _after_call(self, model: Any, parsed: dict[str, Any], **_: Any) -> None:
        self.calls[model.name] += 1
        if model.name == "GetObject":
            self.bytes_read += int(parsed.get("ContentLength") or 0)

    def reset(self) -> tuple[Counter[str], int]:
        used, read = self.calls, self.bytes_read
        self.calls, self.bytes_read = Counter(), 0
        return used, read


def seed_max_manifest(owner_id: str, assets: int) -> str:
    """A manifest of `assets` assets at the field limits, each with an image."""
    from chalicelib.models import AssetLocatorModel, AssetModel, ImageRefModel
    from chalicelib.repositories.base import utcnow
    from chalicelib.schemas import ManifestCreate
    from chalicelib.services import manifests

    manifest = manifests().create(
        owner_id, ManifestCreate(name="M" * 200, description=MAX_TEXT, tags=MAX_TAGS)
    )
    mid = manifest.manifest_id
    now = utcnow()
    items, refs = [], []
    for n in range(1, assets + 1):
        key = f"images/bench/{mid}/{n}.png"
        items.append(
            AssetModel(
                mid,
                str(uuid.uuid4()),
                owner_id=owner_id,
                asset_type="CHARACTER",
                name=("N" * 190) + f"{n:010d}",
                manifest_tag=f"CHAR_{n:02d}",
                user_tags=MAX_TAGS,
                description=MAX_TEXT,
                reverse_prompt=MAX_LONG,
                visual_description=MAX_LONG,
                source="manual",
                sort_order=n,
                created_at=now,
                updated_at=now,
                revision=1,
                reference_image_key=key,
                thumbnail_key=key.replace("images/", "thumbnails/").replace(".png", ".webp"),
                is_face_crop=False,
            )
        )
        refs.append(ImageRefModel(key, thumbnail_key=key, owner_id=owner_id, ref_count=1))
    with AssetModel.batch_write() as batch:
        for a in items:
            batch.save(a)
    with AssetLocatorModel.batch_write() as batch:
        for a in items:
            batch.save(AssetLocatorModel(a.asset_id, owner_id=owner_id, manifest_id=mid))
    with ImageRefModel.batch_write() as batch:
        for r in refs:
            batch.save(r)
    manifest.update(
        actions=[
            type(manifest).asset_count.set(assets),
            type(manifest).s_count.set(assets),
            type(manifest).tag_seq["CHAR"].set(assets),
        ]
    )
    return mid


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="100,500")
    parser.add_argument("--repeat", type=int, default=5, help="measured pinned reads per size (median)")
    parser.add_argument("--versions", type=int, default=20, help="versions frozen before the pinned read")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]

    from bench.run import moto_process

    rows: list[str] = []
    with moto_process() as endpoint:
        from local_backend import provision

        provision(endpoint)
        from chalice.test import Client

        from app import app
        from chalicelib.auth import mint_dev_token
        from chalicelib.storage import storage

        ddb = DynamoDBMeter()
        ddb.attach_all()
        s3 = S3Meter()
        s3.attach(storage().client)
        with Client(app, stage_name="local", project_dir=str(ROOT)) as client:

            def call(token: str, method: str, path: str, body: Any = None) -> tuple[int, Any, float, Any]:
                ddb.reset()
                s3.reset()
                headers = {
                    "Authorization": f"Bearer {token}",
                    "Content-Type": "application/json",
                    "Accept-Encoding": "gzip",  # 500 assets at the limits need it (http.fit_response)
                }
                data = b"" if body is None else json.dumps(body).encode()
                started = time.perf_counter()
                with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
                    r = client.http.request(method, path, headers=headers, body=data)
                elapsed = (time.perf_counter() - started) * 1000
                raw = r.body if isinstance(r.body, bytes) else (r.body or "").encode()
                if r.headers.get("Content-Encoding") == "gzip":
                    raw = gzip.decompress(raw)
                return r.status_code, json.loads(raw) if raw else None, elapsed, (ddb.reset(), s3.reset())

            def row(op: str, n: int, ms: float, usage: Any, note: str = "") -> None:
                d, (s3_calls, s3_bytes) = usage
                ddb_calls = ", ".join(f"{k} {v}" for k, v in sorted(d.calls.items()))
                s3_text = ", ".join(f"{k} {v}" for k, v in sorted(s3_calls.items())) or "0"
                line = (
                    f"| {op} | {n} | {d.total_calls} ({ddb_calls}) | {d.items_read} | {s3_text} "
                    f"| {s3_bytes / 1e6:.1f} MB | {ms:.0f} | {note} |"
                )
                rows.append(line)
                print(line, flush=True)

            for n in sizes:
                owner = f"bench-versions-{n}-{uuid.uuid4().hex[:6]}"
                token = mint_dev_token(owner, os.environ["JWT_SECRET"])
                mid = seed_max_manifest(owner, n)
                status, body, ms, usage = call(token, "POST", f"/api/manifests/{mid}/versions")
                assert status == 201, body
                row("freeze (POST versions)", n, ms, usage, f"{n} image references taken")
                status, body, ms, usage = call(token, "POST", f"/api/manifests/{mid}/versions")
                assert status == 200, body
                row("freeze again, unchanged", n, ms, usage)
                # More versions, so the pinned read is shown not to depend on them.
                for k in range(args.versions - 1):
                    assert call(token, "PUT", f"/api/manifests/{mid}", {"description": f"v{k}"})[0] == 200
                    assert call(token, "POST", f"/api/manifests/{mid}/versions")[0] == 201
                status, project, _, _ = call(
                    token, "POST", "/api/projects", {"manifest_id": mid, "manifest_version": 1}
                )
                assert status == 201, project
                reads = [
                    call(token, "GET", f"/api/projects/{project['project_id']}/manifest")
                    for _ in range(args.repeat)
                ]
                assert all(r[0] == 200 and len(r[1]["assets"]) == n for r in reads)
                median = statistics.median(r[2] for r in reads)
                row(
                    "pinned read (GET projects/{id}/manifest)",
                    n,
                    median,
                    reads[-1][3],
                    f"{args.versions} versions exist; median of {args.repeat}",
                )
                asset_id = reads[-1][1]["assets"][0]["asset_id"]
                status, _, ms, usage = call(token, "PUT", f"/api/assets/{asset_id}", {"name": "first edit"})
                assert status == 200
                row("asset update, frozen working version (bumps it)", n, ms, usage)
                status, _, ms, usage = call(token, "PUT", f"/api/assets/{asset_id}", {"name": "second edit"})
                assert status == 200
                row("asset update, unfrozen working version", n, ms, usage)
                status, _, ms, usage = call(token, "PUT", f"/api/manifests/{mid}", {"name": "renamed"})
                assert status == 200
                row("manifest update, unfrozen working version", n, ms, usage)

    header = [
        "| operation | assets | DynamoDB calls | items read | S3 calls | S3 read | ms | note |",
        "|---|---|---|---|---|---|---|---|",
    ]
    text = "\n".join(
        [
            "# Versions bench (bench/versions.py, part of make bench)",
            "",
            "Assets at the field limits (200-char name, 2,000-char description, two 8,000-char",
            "texts, 20 x 50-char tags; 2-byte characters), each with its own image reference.",
            "Through the app in-process against moto over HTTP; ms are moto's, not DynamoDB's.",
            "",
            *header,
            *rows,
            "",
        ]
    )
    print("\n" + text)
    (ROOT / "bench" / "RESULTS_VERSIONS.md").write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
