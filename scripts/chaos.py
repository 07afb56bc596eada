"""`make chaos`: a bounded soak of the real local server under injected faults,
then a check of the stored data against what every client was told.

N client threads (one owner, so they race on the same manifests) send a random
mix of creates, updates, deletes, duplicates, project attaches/moves/detaches
and image uploads to `chalice local`, while the local backend's fault hook
(scripts/faults.py) loses responses, throttles and slows a share of the
DynamoDB and S3 calls. Every client records each answer (status + body) and
sends a unique marker (a name, title, description or prompt) with every write,
so the checker can find in storage what a failed request may still have written.

After the run the faults are cleared and in-flight requests settle; the checker
then reads the tables and the bucket directly (a Scan is fine here: it is not a
request path) and compares. No check depends on timing: a client timeout or a
dropped connection is an unknown outcome, counted and reported but never
judged, so a loaded machine changes the figures' sizes, not the verdict.

What the checker can tell (see `check`): a 2xx whose write is not stored; a
4xx/5xx whose write is stored (found by its marker, or for uploads by the
ticket's status, or for upload-url by a ticket no client was given); a write
stored twice; a resource gone although no delete of it was told success (and
which delete was told 404 while it deleted); every storage invariant, on the
final state. What it cannot: which of two concurrent deletes removed an item
when one was told 2xx and the other 404; a failed update that was applied and
then overwritten by a later one; a violation that later requests repaired
before the end (a project pinned to a deleted manifest, then moved away); any
request with an unknown outcome. A duplicate left unpublished (its rollback
failed too) is counted, not judged: the sweep owns it after its deadline.

    python scripts/chaos.py [--seconds 180] [--clients 8] [--seed 1] [--no-faults]
                            [--json report.json] [--records requests.jsonl]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

ROOT = Path(__file__).resolve().parent.parent
for _path in (str(ROOT), str(ROOT / "scripts")):
    if _path not in sys.path:
        sys.path.insert(0, _path)

FAULTS_PATH = "/_vidpipe/faults"
ASSET_TYPES = ["CHARACTER", "OBJECT", "ENVIRONMENT", "PROP", "STYLE", "VEHICLE", "OTHER"]
CATEGORIES = ["CHARACTERS", "ENVIRONMENT", "FULL_PRODUCTION", "STYLE_KIT", "BRAND_KIT", "CUSTOM"]
# Bounds on what one run builds: moto copies whole tables per transaction, so
# an unbounded soak would measure moto's slowdown instead of the app.
MAX_LIVE_MANIFESTS = 12
MAX_ASSETS_PER_MANIFEST = 8
MAX_PROJECTS = 12
MIN_FAULT_SHARE = 0.05

# Every client first walks this tour once (so even a short run exercises every
# operation), then picks at random with these weights until the deadline.
TOUR = [
    "create_manifest",
    "create_asset",
    "create_asset",
    "upload_image",
    "update_asset",
    "duplicate_manifest",
    "create_project",
    "move_project",
    "detach_project",
    "delete_project",
    "delete_image_asset",
    "delete_asset",
    "create_manifest",
    "freeze_manifest",
    "restore_version",
    "delete_manifest",
]
WEIGHTS = {
    "freeze_manifest": 5,
    "restore_version": 3,
    "create_manifest": 8,
    "create_asset": 16,
    "update_asset": 10,
    "delete_asset": 6,
    "upload_image": 10,
    "delete_image_asset": 5,
    "duplicate_manifest": 6,
    "create_project": 8,
    "move_project": 8,
    "detach_project": 3,
    "delete_project": 5,
    "delete_manifest": 5,
}


def fault_rules(seed: int) -> list[dict[str, Any]]:
    """About 9% of backend calls (measured; at least 5% is checked): lost responses
    (dropped or 500 after the write is applied), throttles, latency, 503 before
    applying. The client's own
    presigned PutObject is left alone (only `thumbnails/` writes, the app's, are
    faulted) so uploads can progress; the rest of S3 is fair game."""
    rules: list[dict[str, Any]] = [
        {"service": "dynamodb", "fault": "lose_response", "probability": 0.03},
        {"service": "dynamodb", "fault": "lose_response", "status": 500, "probability": 0.01},
        {"service": "dynamodb", "fault": "throttle", "code": "ThrottlingException", "probability": 0.015},
        {
            "service": "dynamodb",
            "fault": "throttle",
            "code": "ProvisionedThroughputExceededException",
            "probability": 0.01,
        },
        {
            "service": "dynamodb",
            "operation": "TransactWriteItems",
            "fault": "throttle",
            "code": "TransactionConflict",
            "probability": 0.03,
        },
        {"service": "dynamodb", "fault": "latency", "delay": 0.2, "probability": 0.03},
        {"service": "s3", "operation": "GetObject", "fault": "lose_response", "probability": 0.04},
        {
            "service": "s3",
            "operation": "GetObject",
            "fault": "error_before",
            "status": 503,
            "probability": 0.02,
        },
        {
            "service": "s3",
            "operation": "PutObject",
            "match": "thumbnails/",
            "fault": "lose_response",
            "probability": 0.05,
        },
        {"service": "s3", "operation": "DeleteObject", "fault": "lose_response", "probability": 0.05},
        {"service": "s3", "operation": "DeleteObjects", "fault": "lose_response", "probability": 0.05},
        {"service": "s3", "operation": "HeadObject", "fault": "lose_response", "probability": 0.05},
        {"service": "s3", "operation": "CopyObject", "fault": "lose_response", "probability": 0.05},
    ]
    for i, rule in enumerate(rules):
        rule["seed"] = seed * 1000 + i
    return rules


# A pass-through rule placed last: it "fires" on every call no fault took, so
# its hits plus the faults' hits are the number of backend calls.
COUNTER_RULE: dict[str, Any] = {"fault": "latency", "delay": 0, "times": None}


# --- what clients were told --------------------------------------------------------


@dataclass
class Record:
    """One request and what its client was told. status None = unknown outcome."""

    client: int
    op: str
    method: str
    path: str
    status: int | None
    body: Any
    marker: str | None = None
    target: str | None = None  # the id the request acted on
    target_manifest: str | None = None  # for asset creates and project moves
    error: str | None = None  # "timeout" | "connection" when status is None
    sent: Any = None  # the request body
    at: float = 0.0  # seconds since the run started, when sent (for reading a history; never checked)
    took: float = 0.0

    @property
    def told(self) -> str:
        if self.status is None:
            return "unknown"
        return "ok" if 200 <= self.status < 300 else "fail"

    def brief(self) -> str:
        body = json.dumps(self.body)[:160] if self.body is not None else ""
        shown = self.status if self.status is not None else self.error
        return f"{self.method} {self.path} -> {shown} {body}"


class Pools:
    """What clients believe exists, to pick targets from (shared, racy on purpose)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.manifests: list[str] = []
        self.assets: dict[str, str] = {}  # asset_id -> manifest_id
        self.with_image: set[str] = set()
        self.projects: list[str] = []

    def pick_manifest(self, rng: random.Random) -> str | None:
        with self.lock:
            return rng.choice(self.manifests) if self.manifests else None

    def pick_asset(self, rng: random.Random, with_image: bool = False) -> str | None:
        with self.lock:
            pool = sorted(self.with_image if with_image else self.assets)
            return rng.choice(pool) if pool else None

    def pick_project(self, rng: random.Random) -> str | None:
        with self.lock:
            return rng.choice(self.projects) if self.projects else None

    def assets_in(self, manifest_id: str) -> int:
        with self.lock:
            return sum(1 for m in self.assets.values() if m == manifest_id)

    def add_manifest(self, manifest_id: str) -> None:
        with self.lock:
            self.manifests.append(manifest_id)

    def drop_manifest(self, manifest_id: str) -> None:
        with self.lock:
            if manifest_id in self.manifests:
                self.manifests.remove(manifest_id)
            for aid in [a for a, m in self.assets.items() if m == manifest_id]:
                self.assets.pop(aid)
                self.with_image.discard(aid)

    def add_asset(self, asset_id: str, manifest_id: str, with_image: bool = False) -> None:
        with self.lock:
            self.assets[asset_id] = manifest_id
            if with_image:
                self.with_image.add(asset_id)

    def drop_asset(self, asset_id: str) -> None:
        with self.lock:
            self.assets.pop(asset_id, None)
            self.with_image.discard(asset_id)

    def add_project(self, project_id: str) -> None:
        with self.lock:
            self.projects.append(project_id)

    def drop_project(self, project_id: str) -> None:
        with self.lock:
            if project_id in self.projects:
                self.projects.remove(project_id)


class ChaosClient:
    """One thread's user: its own connection, its own seeded choices."""

    def __init__(
        self,
        index: int,
        base: str,
        token: str,
        pools: Pools,
        seed: int,
        timeout: float,
        image: bytes,
    ) -> None:
        self.index = index
        self.base = base
        self.pools = pools
        self.rng = random.Random(seed * 7919 + index)
        self.timeout = timeout
        self.image = image
        self.records: list[Record] = []
        self.errors: list[str] = []
        self.started = time.monotonic()
        self.session = requests.Session()
        self.session.headers.update({"Authorization": f"Bearer {token}", "Content-Type": "application/json"})

    # --- one request, recorded ---------------------------------------------------------

    def send(self, op: str, method: str, path: str, body: Any = None, **meta: Any) -> Record:
        meta["at"] = round(time.monotonic() - self.started, 3)
        try:
            r = self.session.request(method, self.base + path, json=body, timeout=(10, self.timeout))
            try:
                answer: Any = r.json()
            except ValueError:
                answer = r.text[:500]
            record = Record(self.index, op, method, path, r.status_code, answer, sent=body, **meta)
        except requests.Timeout:
            record = Record(self.index, op, method, path, None, None, error="timeout", sent=body, **meta)
        except requests.ConnectionError:
            record = Record(self.index, op, method, path, None, None, error="connection", sent=body, **meta)
        record.took = round(time.monotonic() - self.started - record.at, 3)
        self.records.append(record)
        return record

    def marker(self, kind: str) -> str:
        return f"chaos-{kind}-{uuid.uuid4()}"

    # --- the operations ------------------------------------------------------------------

    def run(self, started: float, deadline: float, max_ops: int) -> None:
        self.started = started
        try:
            for op in TOUR:
                self.do(op)
            done = len(TOUR)
            names = sorted(WEIGHTS)
            weights = [WEIGHTS[n] for n in names]
            while time.monotonic() < deadline and done < max_ops:
                self.do(self.rng.choices(names, weights)[0])
                done += 1
        finally:
            self.session.close()

    def do(self, op: str) -> None:
        """One operation; a bug of the harness (an answer it cannot read) is kept
        for the report instead of silently ending this client."""
        try:
            getattr(self, op)()
        except Exception as exc:
            self.errors.append(f"{op}: {exc!r}")

    def create_manifest(self) -> None:
        with self.pools.lock:
            full = len(self.pools.manifests) >= MAX_LIVE_MANIFESTS
        if full:
            return self.delete_manifest()
        marker = self.marker("manifest")
        body = {"name": marker, "category": self.rng.choice(CATEGORIES)}
        r = self.send("create_manifest", "POST", "/api/manifests", body, marker=marker)
        if r.status == 201:
            self.pools.add_manifest(r.body["manifest_id"])

    def create_asset(self) -> None:
        mid = self.pools.pick_manifest(self.rng)
        if mid is None:
            return self.create_manifest()
        if self.pools.assets_in(mid) >= MAX_ASSETS_PER_MANIFEST:
            return self.delete_asset()
        marker = self.marker("asset")
        body = {"name": marker, "asset_type": self.rng.choice(ASSET_TYPES)}
        r = self.send(
            "create_asset", "POST", f"/api/manifests/{mid}/assets", body, marker=marker, target_manifest=mid
        )
        if r.status == 201:
            self.pools.add_asset(r.body["asset_id"], mid)
        elif r.status == 404:
            self.pools.drop_manifest(mid)

    def update_asset(self) -> None:
        aid = self.pools.pick_asset(self.rng)
        if aid is None:
            return self.create_asset()
        marker = self.marker("desc")
        body: dict[str, Any] = {"description": marker}
        if self.rng.random() < 0.3:  # a type change hands out a new tag
            body["asset_type"] = self.rng.choice(ASSET_TYPES)
        if self.rng.random() < 0.2:  # a reorder recomputes the manifest thumbnail
            body["sort_order"] = self.rng.randint(-5, 5)
        r = self.send("update_asset", "PUT", f"/api/assets/{aid}", body, marker=marker, target=aid)
        if r.status == 404:
            self.pools.drop_asset(aid)

    def _delete_asset(self, op: str, aid: str) -> None:
        r = self.send(op, "DELETE", f"/api/assets/{aid}", target=aid)
        if r.told == "ok" or r.status == 404:
            self.pools.drop_asset(aid)

    def delete_asset(self) -> None:
        aid = self.pools.pick_asset(self.rng)
        if aid is not None:
            self._delete_asset("delete_asset", aid)

    def delete_image_asset(self) -> None:
        aid = self.pools.pick_asset(self.rng, with_image=True)
        if aid is None:
            return self.upload_image()
        self._delete_asset("delete_image_asset", aid)

    def upload_image(self) -> None:
        aid = self.pools.pick_asset(self.rng)
        if aid is None:
            return self.create_asset()
        body = {"content_type": "image/png", "size": len(self.image)}
        r = self.send("upload_url", "POST", f"/api/assets/{aid}/upload-url", body, target=aid)
        if r.status != 201:
            if r.status == 404:
                self.pools.drop_asset(aid)
            return
        ticket = r.body
        upload_id = ticket["upload_id"]
        at = time.monotonic() - self.started
        try:
            put = requests.put(
                ticket["url"], data=self.image, headers=ticket["headers"], timeout=self.timeout
            )
            put_status: int | None = put.status_code
        except requests.RequestException:
            put_status = None
        self.records.append(
            Record(
                self.index,
                "upload_put",
                "PUT",
                "<presigned>",
                put_status,
                None,
                target=upload_id,
                at=round(at, 3),
                took=round(time.monotonic() - self.started - at, 3),
            )
        )
        if put_status != 200:
            return
        r = self.send(
            "upload_complete",
            "POST",
            f"/api/assets/{aid}/upload-complete",
            {"upload_id": upload_id},
            target=upload_id,
        )
        if r.status == 200:
            self.pools.add_asset(aid, r.body["manifest_id"], with_image=True)
        elif r.status == 404:
            self.pools.drop_asset(aid)

    def duplicate_manifest(self) -> None:
        mid = self.pools.pick_manifest(self.rng)
        if mid is None:
            return self.create_manifest()
        with self.pools.lock:
            full = len(self.pools.manifests) >= MAX_LIVE_MANIFESTS
        if full:
            return self.delete_manifest()
        marker = self.marker("copy")
        path = f"/api/manifests/{mid}/duplicate?name={quote(marker)}"
        r = self.send("duplicate_manifest", "POST", path, marker=marker, target=mid)
        if r.status != 201:
            if r.status == 404:
                self.pools.drop_manifest(mid)
            return
        copy_id = r.body["manifest_id"]
        self.pools.add_manifest(copy_id)
        # Learn the copy's assets (and their tags, for the reuse check).
        got = self.send("get_copy", "GET", f"/api/manifests/{copy_id}", target=copy_id)
        if got.status == 200:
            for asset in got.body.get("assets", []):
                self.pools.add_asset(asset["asset_id"], copy_id, bool(asset.get("reference_image_url")))

    def create_project(self) -> None:
        with self.pools.lock:
            full = len(self.pools.projects) >= MAX_PROJECTS
        if full:
            return self.delete_project()
        mid = self.pools.pick_manifest(self.rng) if self.rng.random() < 0.9 else None
        marker = self.marker("project")
        body: dict[str, Any] = {"title": marker}
        if mid:
            body["manifest_id"] = mid
        r = self.send("create_project", "POST", "/api/projects", body, marker=marker, target_manifest=mid)
        if r.status == 201:
            self.pools.add_project(r.body["project_id"])

    def _update_project(self, op: str, manifest_id: str | None) -> None:
        pid = self.pools.pick_project(self.rng)
        if pid is None:
            return self.create_project()
        marker = self.marker("prompt")
        body = {"prompt": marker, "manifest_id": manifest_id}
        r = self.send(
            op, "PUT", f"/api/projects/{pid}", body, marker=marker, target=pid, target_manifest=manifest_id
        )
        if r.status == 404 and "roject" in json.dumps(r.body):
            self.pools.drop_project(pid)

    def move_project(self) -> None:
        mid = self.pools.pick_manifest(self.rng)
        if mid is None:
            return self.create_manifest()
        self._update_project("move_project", mid)

    def detach_project(self) -> None:
        self._update_project("detach_project", None)

    def delete_project(self) -> None:
        pid = self.pools.pick_project(self.rng)
        if pid is None:
            return
        r = self.send("delete_project", "DELETE", f"/api/projects/{pid}", target=pid)
        if r.told == "ok" or r.status == 404:
            self.pools.drop_project(pid)

    def freeze_manifest(self) -> None:
        mid = self.pools.pick_manifest(self.rng)
        if mid is None:
            return self.create_manifest()
        r = self.send("freeze_manifest", "POST", f"/api/manifests/{mid}/versions", target=mid)
        if r.status == 404:
            self.pools.drop_manifest(mid)

    def restore_version(self) -> None:
        """Restore version 1 (frozen by the first pin or freeze), when there is one."""
        mid = self.pools.pick_manifest(self.rng)
        if mid is None:
            return self.create_manifest()
        r = self.send("restore_version", "POST", f"/api/manifests/{mid}/versions/1/restore", target=mid)
        if r.status == 200:
            # Assets come back (with their ids) and later ones go: learn the new set.
            with self.pools.lock:
                gone = [a for a, m in self.pools.assets.items() if m == mid]
            for aid in gone:
                self.pools.drop_asset(aid)
            for asset in r.body.get("assets", []):
                self.pools.add_asset(asset["asset_id"], mid, bool(asset.get("reference_image_url")))

    def delete_manifest(self) -> None:
        mid = self.pools.pick_manifest(self.rng)
        if mid is None:
            return
        r = self.send("delete_manifest", "DELETE", f"/api/manifests/{mid}", target=mid)
        if r.told == "ok" or r.status == 404:
            self.pools.drop_manifest(mid)


# --- the backend's fault hook ------------------------------------------------------------


class FaultControl:
    """The fault hook's HTTP control on the moto endpoint (scripts/faults.py)."""

    def __init__(self, endpoint: str) -> None:
        self.url = endpoint.rstrip("/") + FAULTS_PATH

    def add(self, rules: list[dict[str, Any]]) -> list[str]:
        r = requests.post(self.url, json={"rules": rules}, timeout=30)
        r.raise_for_status()
        return list(r.json()["ids"])

    def rules(self) -> list[dict[str, Any]]:
        r = requests.get(self.url, timeout=30)
        r.raise_for_status()
        return list(r.json()["rules"])

    def clear(self) -> None:
        requests.delete(self.url, timeout=30).raise_for_status()


def settle(control: FaultControl, counter_id: str, quiet: float = 3.0, limit: float = 180.0) -> float:
    """Wait until the backend has seen no call for `quiet` seconds (requests whose
    client gave up may still be running in the server). Returns seconds waited."""
    start = time.monotonic()
    last, since = -1, time.monotonic()
    while time.monotonic() - start < limit:
        hits = next((r["hits"] for r in control.rules() if r["id"] == counter_id), 0)
        if hits != last:
            last, since = hits, time.monotonic()
        elif time.monotonic() - since >= quiet:
            break
        time.sleep(0.5)
    return time.monotonic() - start


# --- what is stored ------------------------------------------------------------------------


@dataclass
class Stored:
    """One owner's items in every table, and its objects in the bucket."""

    manifests: dict[str, dict[str, Any]]
    assets: dict[str, dict[str, Any]]
    projects: dict[str, dict[str, Any]]
    uploads: dict[str, dict[str, Any]]
    image_refs: dict[str, dict[str, Any]]
    objects: set[str]
    # Frozen versions: "manifest_id#version" -> item, plus the image keys
    # (reference and thumbnail) of every asset in its body.
    versions: dict[str, dict[str, Any]] = field(default_factory=dict)
    version_images: dict[str, list[tuple[str, str | None]]] = field(default_factory=dict)


def load_stored(owner: str) -> Stored:
    """Read everything the owner has, straight from the tables (Scan) and the bucket."""
    import boto3
    from boto3.dynamodb.types import TypeDeserializer

    from chalicelib import config
    from chalicelib.services.uploads import owner_prefix

    ddb = boto3.client("dynamodb", endpoint_url=config.dynamodb_endpoint(), region_name=config.region())
    s3 = boto3.client("s3", endpoint_url=config.s3_endpoint(), region_name=config.region())
    plain = TypeDeserializer()

    def scan(suffix: str, key: str) -> dict[str, dict[str, Any]]:
        out = {}
        for page in ddb.get_paginator("scan").paginate(
            TableName=config.table_name(suffix), ConsistentRead=True
        ):
            for raw in page["Items"]:
                item = {k: plain.deserialize(v) for k, v in raw.items()}
                if item.get("owner_id") == owner:
                    out[str(item[key])] = item
        return out

    segment = owner_prefix(owner)
    objects = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=config.bucket_name()):
        for obj in page.get("Contents", []):
            if segment in obj["Key"].split("/"):
                objects.add(obj["Key"])
    versions: dict[str, dict[str, Any]] = {}
    version_images: dict[str, list[tuple[str, str | None]]] = {}
    for page in ddb.get_paginator("scan").paginate(
        TableName=config.table_name("manifest-versions"), ConsistentRead=True
    ):
        for raw in page["Items"]:
            item = {k: plain.deserialize(v) for k, v in raw.items()}
            if item.get("owner_id") != owner:
                continue
            label = f"{item['manifest_id']}#{int(item['version'])}"
            versions[label] = item
            body = json.loads(s3.get_object(Bucket=config.bucket_name(), Key=item["body_key"])["Body"].read())
            version_images[label] = [
                (a["reference_image_key"]["S"], a.get("thumbnail_key", {}).get("S"))
                for a in body["assets"]
                if "reference_image_key" in a
            ]
    return Stored(
        manifests=scan("manifests", "manifest_id"),
        assets=scan("assets", "asset_id"),
        projects=scan("projects", "project_id"),
        uploads=scan("uploads", "upload_id"),
        image_refs=scan("image-refs", "object_key"),
        objects=objects,
        versions=versions,
        version_images=version_images,
    )


def is_pending(manifest: dict[str, Any]) -> bool:
    """An unfinished duplicate: invisible, owned by its copier or the sweep."""
    return bool(manifest.get("pending_until"))


def is_deleted(manifest: dict[str, Any]) -> bool:
    return bool(manifest.get("deleted_at")) and not is_pending(manifest)


def tag_number(tag: str) -> tuple[str, int]:
    prefix, _, number = tag.rpartition("_")
    return prefix, int(number)


# --- the check -------------------------------------------------------------------------------


@dataclass
class Report:
    """The figures of one run; `failures` names every check that did not hold."""

    seconds: float
    clients: int
    seed: int
    faults_on: bool
    figures: dict[str, Any] = field(default_factory=dict)
    checks: dict[str, int] = field(default_factory=dict)  # name -> violations (must be 0)
    examples: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    per_op: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    fault_hits: dict[str, int] = field(default_factory=dict)
    records: list[Record] = field(default_factory=list, repr=False)

    def violation(self, check: str, example: str) -> None:
        self.checks[check] = self.checks.get(check, 0) + 1
        if len(self.examples[check]) < 5:
            self.examples[check].append(example)

    def expect(self, *checks: str) -> None:
        for check in checks:
            self.checks.setdefault(check, 0)

    @property
    def failures(self) -> list[str]:
        return sorted(name for name, n in self.checks.items() if n)

    def text(self) -> str:
        lines = [
            f"chaos: {self.clients} clients, {self.seconds:.0f} s, seed {self.seed}, "
            f"faults {'on' if self.faults_on else 'off'}",
            "",
            "requests per operation and status (? = unknown outcome: client timeout or dropped connection)",
        ]
        for op in sorted(self.per_op):
            counts = ", ".join(f"{status}: {n}" for status, n in sorted(self.per_op[op].items()))
            lines.append(f"  {op:<20} {sum(self.per_op[op].values()):>5}   {counts}")
        lines.append("")
        for name, value in self.figures.items():
            lines.append(f"  {name:<44} {value}")
        if self.fault_hits:
            lines.append("  faults injected, per rule:")
            for name, hits in self.fault_hits.items():
                lines.append(f"    {name:<60} {hits}")
        lines.append("")
        lines.append("checks (violations; each must be 0)")
        for name in sorted(self.checks):
            n = self.checks[name]
            lines.append(f"  {'FAIL' if n else 'ok  '} {name:<58} {n}")
            for example in self.examples.get(name, []):
                lines.append(f"         e.g. {example}")
        lines.append("")
        lines.append("VERDICT: " + ("FAIL (" + ", ".join(self.failures) + ")" if self.failures else "PASS"))
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "seconds": self.seconds,
            "clients": self.clients,
            "seed": self.seed,
            "faults_on": self.faults_on,
            "figures": self.figures,
            "checks": self.checks,
            "examples": dict(self.examples),
            "per_op": {op: dict(c) for op, c in self.per_op.items()},
            "fault_hits": self.fault_hits,
        }


def check(report: Report, records: list[Record], stored: Stored) -> Report:
    """Compare what every client was told with what is stored, and check the invariants."""
    s = stored
    for r in records:
        report.per_op[r.op][str(r.status) if r.status is not None else "?"] += 1
    api = [r for r in records if r.op != "upload_put"]
    report.figures["requests to the API"] = len(api)
    report.figures["unknown outcomes: client timeouts"] = sum(r.error == "timeout" for r in api)
    report.figures["unknown outcomes: dropped connections"] = sum(r.error == "connection" for r in api)
    report.figures["responses 503 (dependency failure, allowed)"] = sum(r.status == 503 for r in api)
    report.figures["pending copies left (for the sweep)"] = sum(is_pending(m) for m in s.manifests.values())

    report.expect(
        "responses 500",
        "responses 5xx other than 500/503",
        "tags duplicated within a manifest",
        "tags above their manifest's counter (would be reissued)",
        "tags reused (one tag, two assets of a manifest)",
        "asset_count != number of assets",
        "s_count (listing mirror) != asset_count",
        "ref_count != live projects pinning the manifest",
        "live project references a deleted/missing/unpublished manifest",
        "asset image object missing in S3",
        "asset thumbnail object missing in S3",
        "orphan objects (no asset, no pending ticket, no ref)",
        "objects released but not deleted (image-ref at 0)",
        "image-ref ref_count != assets showing the image + versions holding it",
        "frozen version image missing in S3",
        "frozen version thumbnail missing",
        "pinned_by != live projects pinning the version",
        "live project pins a version that is not frozen",
        "image shown by assets but no image-ref record",
        "misreported: told success, not stored",
        "misreported: told failure, stored",
        "stored twice for one request",
        "gone although no delete was told success",
    )
    for r in api:
        if r.status == 500:
            report.violation("responses 500", r.brief())
        elif r.status is not None and r.status >= 500 and r.status != 503:
            report.violation("responses 5xx other than 500/503", r.brief())

    _check_tags(report, api, s)
    _check_counters(report, s)
    _check_images(report, s)
    _check_outcomes(report, api, s)
    return report


def _check_tags(report: Report, api: list[Record], s: Stored) -> None:
    by_manifest: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for asset in s.assets.values():
        by_manifest[asset["manifest_id"]].append(asset)
    for mid, assets in by_manifest.items():
        tags = Counter(a["manifest_tag"] for a in assets)
        for tag, n in tags.items():
            if n > 1:
                report.violation("tags duplicated within a manifest", f"{mid} {tag} x{n}")
        manifest = s.manifests.get(mid)
        if manifest is None or is_pending(manifest):
            continue
        seq = manifest.get("tag_seq") or {}
        for tag in tags:
            prefix, number = tag_number(tag)
            if number > int(seq.get(prefix, 0)):
                report.violation(
                    "tags above their manifest's counter (would be reissued)",
                    f"{mid} {tag} counter {prefix}={int(seq.get(prefix, 0))}",
                )
    # Every (manifest, tag) -> asset seen in any answer or in storage: one asset per tag, ever.
    seen: dict[tuple[str, str], set[str]] = defaultdict(set)
    for r in api:
        if r.told != "ok" or not isinstance(r.body, dict):
            continue
        bodies = r.body.get("assets", []) if r.op == "get_copy" else [r.body]
        for a in bodies:
            if isinstance(a, dict) and a.get("manifest_tag") and a.get("asset_id"):
                seen[(a["manifest_id"], a["manifest_tag"])].add(a["asset_id"])
    for a in s.assets.values():
        seen[(a["manifest_id"], a["manifest_tag"])].add(a["asset_id"])
    for (mid, tag), ids in seen.items():
        if len(ids) > 1:
            report.violation("tags reused (one tag, two assets of a manifest)", f"{mid} {tag} {sorted(ids)}")


def _check_counters(report: Report, s: Stored) -> None:
    counts = Counter(a["manifest_id"] for a in s.assets.values())
    pins = Counter(p.get("manifest_id") for p in s.projects.values() if p.get("manifest_id"))
    for mid, m in s.manifests.items():
        if is_pending(m):
            continue
        if int(m.get("asset_count", 0)) != counts[mid]:
            report.violation(
                "asset_count != number of assets",
                f"{mid} asset_count={m.get('asset_count')} assets={counts[mid]}",
            )
        if m.get("s_count") is not None and int(m["s_count"]) != int(m.get("asset_count", 0)):
            report.violation(
                "s_count (listing mirror) != asset_count",
                f"{mid} s_count={m['s_count']} asset_count={m.get('asset_count')}",
            )
        if int(m.get("ref_count", 0)) != pins[mid]:
            report.violation(
                "ref_count != live projects pinning the manifest",
                f"{mid} ref_count={m.get('ref_count')} projects={pins[mid]} deleted={is_deleted(m)}",
            )
    version_pins = Counter(
        f"{p['manifest_id']}#{int(p['manifest_version'])}"
        for p in s.projects.values()
        if p.get("manifest_id") and p.get("manifest_version") is not None
    )
    for label, version in s.versions.items():
        if int(version.get("pinned_by", 0)) != version_pins[label]:
            report.violation(
                "pinned_by != live projects pinning the version",
                f"{label} pinned_by={version.get('pinned_by')} projects={version_pins[label]}",
            )
    for label in version_pins:
        if label not in s.versions:
            report.violation("live project pins a version that is not frozen", label)
    for pid, p in s.projects.items():
        pinned = p.get("manifest_id")
        if not pinned:
            continue
        target = s.manifests.get(pinned)
        if target is None or is_deleted(target) or is_pending(target):
            state = "missing" if target is None else ("deleted" if is_deleted(target) else "pending")
            report.violation(
                "live project references a deleted/missing/unpublished manifest",
                f"project {pid} -> {pinned} {state}",
            )


def _check_images(report: Report, s: Stored) -> None:
    shown = Counter(a["reference_image_key"] for a in s.assets.values() if a.get("reference_image_key"))
    # A frozen version holds one reference per distinct image it shows, for ever.
    held = Counter(key for images in s.version_images.values() for key in {k for k, _ in images})
    referenced: set[str] = set()
    for label, version in s.versions.items():
        referenced.add(version["body_key"])
        for image, thumb in s.version_images[label]:
            for k, check in (
                (image, "frozen version image missing in S3"),
                (thumb, "frozen version thumbnail missing"),
            ):
                if k:
                    referenced.add(k)
                    if k not in s.objects:
                        report.violation(check, f"version {label} {k}")
    for a in s.assets.values():
        for attr, check in (
            ("reference_image_key", "asset image object missing in S3"),
            ("thumbnail_key", "asset thumbnail object missing in S3"),
        ):
            key = a.get(attr)
            if key:
                referenced.add(key)
                if key not in s.objects:
                    report.violation(check, f"asset {a['asset_id']} {key}")
    for t in s.uploads.values():
        if t.get("status") == "PENDING":
            keys = (t.get("staging_key"), t.get("object_key"), t.get("thumbnail_key"))
            referenced.update(k for k in keys if k)
    # Objects of a record at 0 are released but not yet deleted: the releasing
    # request failed to collect them (only a sweep, if any, will). Counted apart
    # from objects nothing tracks at all.
    released = {
        k
        for ref in s.image_refs.values()
        if int(ref.get("ref_count", 0)) == 0 and not shown[ref["object_key"]] and not held[ref["object_key"]]
        for k in (ref.get("object_key"), ref.get("thumbnail_key"))
        if k
    }
    for key in sorted(s.objects - referenced):
        if key in released:
            report.violation("objects released but not deleted (image-ref at 0)", key)
        else:
            report.violation("orphan objects (no asset, no pending ticket, no ref)", key)
    for key, ref in s.image_refs.items():
        if int(ref.get("ref_count", 0)) != shown[key] + held[key]:
            report.violation(
                "image-ref ref_count != assets showing the image + versions holding it",
                f"{key} ref_count={ref.get('ref_count')} assets={shown[key]} versions={held[key]}",
            )
    zero = sum(1 for key, ref in s.image_refs.items() if int(ref.get("ref_count", 0)) == 0 and not shown[key])
    report.figures["image-ref records at 0 (awaiting collection)"] = zero
    for key in shown + held:
        if key not in s.image_refs:
            report.violation("image shown by assets but no image-ref record", f"{key} assets={shown[key]}")


def _check_outcomes(report: Report, api: list[Record], s: Stored) -> None:
    told_ok = "misreported: told success, not stored"
    told_fail = "misreported: told failure, stored"
    twice = "stored twice for one request"
    gone = "gone although no delete was told success"
    by_op: dict[str, list[Record]] = defaultdict(list)
    for r in api:
        by_op[r.op].append(r)
    deletes: dict[str, list[Record]] = defaultdict(list)
    for op in ("delete_asset", "delete_image_asset", "delete_project", "delete_manifest"):
        for r in by_op[op]:
            deletes[r.target or ""].append(r)

    def vanished(kind: str, item_id: str, created: Record) -> None:
        """A resource its client was told exists is gone: only a delete may explain it."""
        tries = deletes.get(item_id, [])
        if any(d.told in ("ok", "unknown") for d in tries):
            return
        if tries:
            report.violation(
                told_fail,
                f"{kind} {item_id} is gone but its deletes were told: " + "; ".join(d.brief() for d in tries),
            )
        else:
            report.violation(gone, f"{kind} {item_id} ({created.brief()})")

    def names(items: dict[str, dict[str, Any]], attr: str) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for item in items.values():
            if item.get(attr):
                out[item[attr]].append(item)
        return out

    # Manifests: created and duplicated by name marker; never removed (soft delete) except unpublished copies.
    manifest_names = names(s.manifests, "name")
    for op in ("create_manifest", "duplicate_manifest"):
        for r in by_op[op]:
            found = [m for m in manifest_names.get(r.marker or "", []) if not is_pending(m)]
            if len(found) > 1:
                report.violation(twice, r.brief())
            if r.told == "ok":
                m = s.manifests.get(r.body.get("manifest_id", ""))
                if m is None or is_pending(m):
                    report.violation(told_ok, r.brief())
            elif r.told == "fail" and found:
                report.violation(told_fail, f"{r.brief()} stored as {found[0]['manifest_id']}")
    for r in by_op["delete_manifest"]:
        m = s.manifests.get(r.target or "")
        if r.told == "ok" and (m is None or not is_deleted(m)):
            report.violation(told_ok, r.brief())
    known_manifests = {
        r.body["manifest_id"]: r
        for op in ("create_manifest", "duplicate_manifest")
        for r in by_op[op]
        if r.told == "ok"
    }
    for mid, created in known_manifests.items():
        m = s.manifests.get(mid)
        if m is not None and is_deleted(m):
            vanished("manifest", mid, created)

    # Assets: created by (manifest, name marker); hard-deleted only by asset deletes.
    asset_names: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for a in s.assets.values():
        asset_names[(a["manifest_id"], a["name"])].append(a)
    known_assets: dict[str, Record] = {}
    for r in by_op["create_asset"]:
        found = asset_names.get((r.target_manifest or "", r.marker or ""), [])
        if len(found) > 1:
            report.violation(twice, r.brief())
        if r.told == "ok":
            known_assets[r.body["asset_id"]] = r
        elif r.told == "fail" and found:
            report.violation(told_fail, f"{r.brief()} stored as {found[0]['asset_id']}")
    for r in by_op["get_copy"]:
        if r.told == "ok":
            for a in r.body.get("assets", []):
                known_assets.setdefault(a["asset_id"], r)
    # A restore (told ok, or unknown) sets a manifest's assets back to a frozen
    # version: assets created since go, deleted ones and older descriptions return.
    restored = {r.target for r in by_op["restore_version"] if r.told in ("ok", "unknown")}

    def manifest_of(created: Record) -> str | None:
        body = created.body if isinstance(created.body, dict) else {}
        return str(body.get("manifest_id") or created.target or "")

    for aid, created in known_assets.items():
        if aid not in s.assets and manifest_of(created) not in restored:
            vanished("asset", aid, created)
    for op in ("delete_asset", "delete_image_asset"):
        for r in by_op[op]:
            stored_asset = s.assets.get(r.target or "")
            if r.told == "ok" and stored_asset is not None and stored_asset["manifest_id"] not in restored:
                report.violation(told_ok, r.brief())

    # Updates carry a marker (asset description, project prompt): the stored one names the last applied write.
    def last_writes(ops: tuple[str, ...], items: dict[str, dict[str, Any]], attr: str, kind: str) -> None:
        by_marker = {r.marker: r for op in ops for r in by_op[op]}
        by_target: dict[str, list[Record]] = defaultdict(list)
        for op in ops:
            for r in by_op[op]:
                by_target[r.target or ""].append(r)
        for item_id, item in items.items():
            if kind == "asset" and item.get("manifest_id") in restored:
                continue  # a restore may have put an older description back
            writer = by_marker.get(item.get(attr))
            if writer is not None and writer.target != item_id:
                writer = None  # inherited by a copy from its source
            if writer is not None and writer.told == "fail":
                report.violation(told_fail, f"{kind} {item_id} holds the write of {writer.brief()}")
            if writer is None and any(r.told == "ok" for r in by_target.get(item_id, [])):
                ok = next(r for r in by_target[item_id] if r.told == "ok")
                report.violation(told_ok, f"{kind} {item_id} holds none of its updates; {ok.brief()}")
            if (
                kind == "project"
                and writer is not None
                and writer.told == "ok"
                and (item.get("manifest_id") or None) != writer.target_manifest
            ):
                pinned = item.get("manifest_id")
                report.violation(
                    told_ok, f"project {item_id} pins {pinned}; its last write: {writer.brief()}"
                )

    last_writes(("update_asset",), s.assets, "description", "asset")
    last_writes(("move_project", "detach_project"), s.projects, "prompt", "project")

    # Projects: created by title marker; hard-deleted only by project deletes.
    project_titles = names(s.projects, "title")
    for r in by_op["create_project"]:
        found = project_titles.get(r.marker or "", [])
        if len(found) > 1:
            report.violation(twice, r.brief())
        if r.told == "ok":
            pid = r.body["project_id"]
            if pid not in s.projects:
                vanished("project", pid, r)
        elif r.told == "fail" and found:
            report.violation(told_fail, f"{r.brief()} stored as {found[0]['project_id']}")
    for r in by_op["delete_project"]:
        if r.told == "ok" and (r.target or "") in s.projects:
            report.violation(told_ok, r.brief())

    # Uploads: the ticket's own status says whether completion happened.
    issued = {r.body["upload_id"] for r in by_op["upload_url"] if r.told == "ok"}
    for r in by_op["upload_url"]:
        if r.told == "ok" and r.body["upload_id"] not in s.uploads:
            report.violation(told_ok, r.brief())
    url_requests: dict[str, list[Record]] = defaultdict(list)
    for r in by_op["upload_url"]:
        url_requests[r.target or ""].append(r)
    for upload_id, ticket in s.uploads.items():
        if upload_id in issued:
            continue
        tries = url_requests.get(ticket["asset_id"], [])
        if any(t.told == "unknown" for t in tries):
            continue
        failed = [t for t in tries if t.told == "fail"]
        detail = failed[0].brief() if failed else "no request for this asset"
        report.violation(told_fail, f"upload ticket {upload_id} stored; {detail}")
    for r in by_op["upload_complete"]:
        status = (s.uploads.get(r.target or "") or {}).get("status")
        if r.told == "ok" and status != "COMPLETED":
            report.violation(told_ok, f"{r.brief()} ticket {status}")
        elif r.told == "fail" and status == "COMPLETED":
            report.violation(told_fail, f"{r.brief()} ticket COMPLETED")


# --- a run -----------------------------------------------------------------------------------


def soak(
    base: str,
    endpoint: str,
    jwt_secret: str,
    *,
    seconds: float,
    clients: int,
    seed: int,
    faults: bool = True,
    timeout: float = 90.0,
    max_ops_per_client: int = 5000,
    log: Any = print,
) -> Report:
    """Run the soak against a running server and backend, then check; returns the report."""
    from chalicelib.auth import mint_dev_token
    from tests.imagefactory import image_bytes

    owner = f"chaos-{seed}-{uuid.uuid4().hex[:8]}"
    token = mint_dev_token(owner, jwt_secret)
    control = FaultControl(endpoint)
    control.clear()
    rule_specs = fault_rules(seed) if faults else []
    ids = control.add([*rule_specs, COUNTER_RULE])
    counter_id = ids[-1]
    pools = Pools()
    image = image_bytes("image/png")
    workers = [ChaosClient(i, base, token, pools, seed, timeout, image) for i in range(clients)]
    log(f"chaos: {clients} clients for {seconds:.0f} s against {base}, owner {owner}, faults {faults}")
    started = time.monotonic()
    deadline = started + seconds
    threads = [
        threading.Thread(target=w.run, args=(started, deadline, max_ops_per_client), name=f"chaos-{w.index}")
        for w in workers
    ]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - started
        rules = control.rules()
        control.clear()
        ids = control.add([COUNTER_RULE])
        records = [r for w in workers for r in w.records]
        # A request whose client gave up may still run in the server; with none, nothing is in flight.
        unknown = any(r.status is None for r in records)
        waited = settle(control, ids[0], quiet=10.0 if unknown else 1.0)
    finally:
        control.clear()  # never leave faults behind for whatever runs next on this backend

    report = Report(seconds=elapsed, clients=clients, seed=seed, faults_on=faults)
    report.records = records
    report.figures["owner (every item of this run)"] = owner
    counter = next(r for r in rules if r["id"] == counter_id)
    faulted = [r for r in rules if r["id"] != counter_id]
    injected = sum(r["hits"] for r in faulted)
    calls = counter["hits"] + injected
    for r in faulted:
        name = " ".join(
            str(r[k]) for k in ("service", "operation", "match", "fault", "code", "status") if r.get(k)
        )
        report.fault_hits[f"{name} p={r['probability']}"] = r["hits"]
    report.figures["backend calls during the run"] = calls
    report.figures["faults injected"] = injected
    share = injected / calls if calls else 0.0
    report.figures["faulted share of backend calls"] = f"{share:.1%}"
    report.figures["settle wait after the run"] = f"{waited:.1f} s"
    check(report, records, load_stored(owner))
    report.expect("harness errors (answers the clients could not read)")
    for w in workers:
        for error in w.errors:
            report.violation("harness errors (answers the clients could not read)", error)
    if faults:
        report.expect("fault share below 5% of backend calls")
        if share < MIN_FAULT_SHARE:
            report.violation("fault share below 5% of backend calls", f"{injected}/{calls}")
    recorded = {"upload_url", "upload_complete", "get_copy", *WEIGHTS} - {"upload_image"}
    report.figures["operations never exercised"] = sorted(recorded - set(report.per_op)) or "none"
    return report


# --- make chaos: its own backend and server -------------------------------------------------


@contextmanager
def local_stack() -> Iterator[tuple[str, str, str]]:
    """An embedded moto (with the fault hook) and `chalice local` on free loopback
    ports; yields (API base, moto endpoint, JWT secret)."""
    from local_backend import free_port, provision, start_local_server, start_moto, stop_process

    server, endpoint = start_moto()
    env = provision(endpoint)
    try:
        with tempfile.TemporaryFile() as log:  # a file, not a pipe: chalice logs every request
            proc, base = start_local_server({**os.environ, **env}, free_port(), log)
            try:
                yield base, endpoint, env["JWT_SECRET"]
            finally:
                stop_process(proc)
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("CHAOS_SECONDS", "180")))
    parser.add_argument("--clients", type=int, default=int(os.environ.get("CHAOS_CLIENTS", "8")))
    parser.add_argument("--seed", type=int, default=int(os.environ.get("CHAOS_SEED", "1")))
    parser.add_argument("--timeout", type=float, default=float(os.environ.get("CHAOS_TIMEOUT", "90")))
    parser.add_argument(
        "--no-faults", action="store_true", default=os.environ.get("CHAOS_FAULTS", "1") in ("0", "off", "no")
    )
    parser.add_argument("--json", help="also write the report as JSON to this file")
    parser.add_argument("--records", help="also write every request and its answer to this file (JSON lines)")
    args = parser.parse_args(argv)
    if not 1 <= args.clients <= 64:
        parser.error("--clients must be within 1..64")
    if not 1 <= args.seconds <= 3600:
        parser.error("--seconds must be within 1..3600")
    with local_stack() as (base, endpoint, secret):
        report = soak(
            base,
            endpoint,
            secret,
            seconds=args.seconds,
            clients=args.clients,
            seed=args.seed,
            faults=not args.no_faults,
            timeout=args.timeout,
        )
    print(report.text(), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(report.to_json(), indent=2))
    if args.records:
        with Path(args.records).open("w") as out:
            for r in sorted(report.records, key=lambda r: r.at):
                out.write(json.dumps(asdict(r)) + "\n")
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
