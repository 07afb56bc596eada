"""upload-complete latency for ~10 MiB JPEG and PNG, next to its floor measured
in the same run: one GET of the object plus a Pillow thumbnail of it."""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

MiB = 1024 * 1024


def _noisy(content_type: str, target: int) -> bytes:
    """Random pixels (incompressible) sized to land just under `target` bytes."""
    import io
    import os

    from PIL import Image

    fmt = {"image/jpeg": "JPEG", "image/png": "PNG"}[content_type]
    lo, hi = 256, 8000
    best = b""
    while hi - lo > 8:
        side = (lo + hi) // 2
        img = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
        out = io.BytesIO()
        img.save(out, format=fmt, **({"quality": 92} if fmt == "JPEG" else {"compress_level": 1}))
        if out.tell() <= target:
            best, lo = out.getvalue(), side
        else:
            hi = side
    return best


def run(client: Any, make_headers: Any, repeats: int = 7) -> list[dict[str, Any]]:
    import requests

    from chalicelib import config, images
    from chalicelib.storage import storage

    rows = []
    for content_type in ("image/jpeg", "image/png"):
        data = _noisy(content_type, 10 * MiB - 64 * 1024)
        headers = make_headers()
        r = client.http.post("/api/manifests", headers=headers, body=json.dumps({"name": "bench"}))
        mid = json.loads(r.body)["manifest_id"]
        complete_ms, floor_ms = [], []
        for _ in range(repeats):
            r = client.http.post(
                f"/api/manifests/{mid}/assets",
                headers=headers,
                body=json.dumps({"name": "a", "asset_type": "CHARACTER"}),
            )
            aid = json.loads(r.body)["asset_id"]
            r = client.http.post(
                f"/api/assets/{aid}/upload-url",
                headers=headers,
                body=json.dumps({"content_type": content_type, "size": len(data)}),
            )
            ticket = json.loads(r.body)
            requests.put(ticket["url"], data=data, headers={"Content-Type": content_type}, timeout=60)
            t0 = time.perf_counter()
            r = client.http.post(
                f"/api/assets/{aid}/upload-complete",
                headers=headers,
                body=json.dumps({"upload_id": ticket["upload_id"]}),
            )
            complete_ms.append((time.perf_counter() - t0) * 1000)
            assert r.status_code == 200, r.body
            staging = ticket["url"].split("?")[0].split(config.bucket_name() + "/", 1)[1]
            # The PUT lands on a staging key; completion writes the verified bytes to
            # images/... (and deletes the staging object): the floor reads those.
            key = "images/" + staging.removeprefix("incoming/")
            t0 = time.perf_counter()
            body = storage().client.get_object(Bucket=config.bucket_name(), Key=key)["Body"].read()
            images.make_thumbnail(body, content_type)
            floor_ms.append((time.perf_counter() - t0) * 1000)
        complete = statistics.median(complete_ms)
        floor = statistics.median(floor_ms)
        rows.append(
            {
                "type": content_type,
                "bytes": len(data),
                "complete_ms": complete,
                "floor_ms": floor,
                "ratio": complete / floor,
            }
        )
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| upload-complete | object size | median latency | floor (GET + thumbnail) | ratio |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['type']} | {row['bytes'] / MiB:.2f} MiB | {row['complete_ms']:.1f} ms "
            f"| {row['floor_ms']:.1f} ms | {row['ratio']:.2f}x |"
        )
    return "\n".join(lines)


def main() -> None:
    from chalice.test import Client
    from local_backend import provision, start_moto

    server, endpoint = start_moto()
    env = provision(endpoint)
    from app import app
    from chalicelib.auth import mint_dev_token

    token = mint_dev_token("bench-uploads", env["JWT_SECRET"])

    def make_headers() -> dict[str, str]:
        return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    try:
        with Client(app, stage_name="local", project_dir=str(ROOT)) as client:
            print(table(run(client, make_headers)))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
