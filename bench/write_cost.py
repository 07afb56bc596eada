"""Write units (WCU) each operation consumes on DynamoDB, computed from what it wrote.

moto answers every write with a constant ConsumedCapacity, so the bench works it
out the way DynamoDB bills it, from the real requests the app sends:

- every write request the app makes (PutItem, UpdateItem, DeleteItem,
  BatchWriteItem, TransactWriteItems) is seen through botocore's event hooks
  on the clients PynamoDB uses; for each item it writes, the item is read just
  before and just after (GetItem, consistent, on a separate unmetered client);
- a base item costs 1 WCU per started KB of the larger of its two images (the
  deleted image for a delete; 1 WCU minimum), x2 inside TransactWriteItems
  (a ConditionCheck costs like a write of the item it checks);
- each index of the table (from the models: key attributes and projection) gets
  an entry write when the item enters or leaves it, or stays with a projected
  or key value changed; a changed index key is a delete plus a put. An entry is
  the table keys + index keys + projected attributes + 100 bytes of overhead,
  1 WCU per started KB, x2 inside a transaction;
- item sizes follow DynamoDB's rules: attribute name bytes + value bytes
  (numbers: 1 byte per 2 significant digits + 1; lists and maps: 3 bytes + 1 per
  element + the elements).

The same trace is priced twice: with the indexes as the models declare them now,
and with "before" = the same index keys, every projection KEYS_ONLY (the design
until the listing indexes projected the list fields).

    .venv/bin/python bench/write_cost.py    # this section alone, on its own moto
"""

from __future__ import annotations

import io
import json
import math
import sys
import uuid
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

KB = 1024
INDEX_ENTRY_OVERHEAD = 100
DUPLICATE_ASSETS = 20
WRITE_OPERATIONS = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")

Item = dict[str, dict[str, Any]]

EXPLANATION = (
    "Each operation once through the app; every item it wrote was read just before and after, and priced "
    "as DynamoDB bills it: 1 WCU per started KB of the larger image per base item, 1 per started KB per "
    "index entry written (keys + projection + 100 B; a moved key = delete + put; a changed projected "
    "attribute = 1), all x2 inside TransactWriteItems. 'Before' prices the same writes with every index "
    "KEYS_ONLY (the design until now); 'after' with the indexes the models declare. Entries are below "
    "1 KB except for the largest list fields, so entries written ~ index WCU outside transactions."
)


# --- sizes ------------------------------------------------------------------------


def number_size(text: str) -> int:
    """1 byte per two significant digits, plus 1."""
    significant = "".join(map(str, Decimal(text).as_tuple().digits)).strip("0") or "0"
    return math.ceil(len(significant) / 2) + 1


def value_size(value: dict[str, Any]) -> int:
    ((kind, v),) = value.items()
    if kind == "S":
        return len(v.encode("utf-8"))
    if kind == "N":
        return number_size(v)
    if kind == "B":
        return len(v)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode("utf-8")) for s in v)
    if kind == "NS":
        return sum(number_size(n) for n in v)
    if kind == "BS":
        return sum(len(b) for b in v)
    if kind == "L":
        return 3 + sum(value_size(e) + 1 for e in v)
    if kind == "M":
        return 3 + sum(len(k.encode("utf-8")) + value_size(e) + 1 for k, e in v.items())
    raise ValueError(f"unknown attribute type {kind}")


def item_size(item: Item | None) -> int:
    return sum(len(name.encode("utf-8")) + value_size(v) for name, v in (item or {}).items())


def units(size: int) -> int:
    return max(1, math.ceil(size / KB))


# --- table and index shapes, from the models -----------------------------------------


@dataclass(frozen=True)
class IndexShape:
    name: str
    keys: tuple[str, ...]
    projection: str  # KEYS_ONLY | INCLUDE | ALL
    non_key: frozenset[str] = frozenset()


@dataclass(frozen=True)
class TableShape:
    keys: tuple[str, ...]
    indexes: tuple[IndexShape, ...]


def shapes_from_models(keys_only: bool = False) -> dict[str, TableShape]:
    """Table name -> its keys and indexes as `chalicelib.models` declares them
    (or, with keys_only, the same indexes with every projection KEYS_ONLY)."""
    from chalicelib.models import ALL_MODELS

    shapes = {}
    for model in ALL_MODELS:
        indexes = []
        for name, index in model._indexes.items():
            attrs = sorted(index.Meta.attributes.values(), key=lambda a: not a.is_hash_key)
            keys = tuple(a.attr_name for a in attrs if a.is_hash_key or a.is_range_key)
            projection = index.Meta.projection
            kind = "KEYS_ONLY" if keys_only else projection.projection_type
            non_key = frozenset(getattr(projection, "non_key_attributes", None) or ())
            indexes.append(IndexShape(name, keys, kind, frozenset() if keys_only else non_key))
        table_keys = tuple(k for k in (model._hash_keyname, model._range_keyname) if k)
        shapes[model.Meta.table_name] = TableShape(table_keys, tuple(indexes))
    return shapes


def index_entry(table: TableShape, index: IndexShape, item: Item | None) -> Item | None:
    """The item's entry in the index, or None when it is not in it (sparse)."""
    if item is None or any(k not in item for k in index.keys):
        return None
    if index.projection == "ALL":
        return dict(item)
    names = set(table.keys) | set(index.keys)
    if index.projection == "INCLUDE":
        names |= index.non_key
    return {k: v for k, v in item.items() if k in names}


def entry_writes(table: TableShape, index: IndexShape, before: Item | None, after: Item | None) -> list[int]:
    """Sizes of the entry writes this item change causes in one index."""
    old, new = index_entry(table, index, before), index_entry(table, index, after)

    def size(entry: Item) -> int:
        return item_size(entry) + INDEX_ENTRY_OVERHEAD

    if old is None and new is None:
        return []
    if old is None:
        return [size(new)]  # type: ignore[arg-type]
    if new is None:
        return [size(old)]
    if any(old[k] != new[k] for k in index.keys):
        return [size(old), size(new)]  # moved: delete + put
    return [] if old == new else [size(new)]


# --- what one operation wrote ----------------------------------------------------


@dataclass
class Write:
    table: str
    kind: str  # put | update | delete | check
    transactional: bool
    key: Item
    before: Item | None = None
    after: Item | None = None
    failed: bool = False


@dataclass
class Cost:
    base: int = 0
    entries: int = 0
    index: int = 0
    by_index: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return self.base + self.index


def price(writes: list[Write], shapes: dict[str, TableShape]) -> Cost:
    cost = Cost()
    for w in writes:
        factor = 2 if w.transactional else 1
        if w.kind == "delete" or w.kind == "check":
            size = item_size(w.before)
        else:
            size = max(item_size(w.before), item_size(w.after))
        cost.base += units(size) * factor
        if w.failed or w.kind == "check":
            continue
        table = shapes[w.table]
        for index in table.indexes:
            sizes = entry_writes(table, index, w.before, w.after)
            cost.entries += len(sizes)
            cost.index += sum(units(s) for s in sizes) * factor
            cost.by_index[f"{w.table}:{index.name}"] += len(sizes)
    return cost


class WriteRecorder:
    """Sees every write request on the given botocore clients and records the
    before/after image of each item it writes."""

    def __init__(self, shapes: dict[str, TableShape], reader: Any) -> None:
        self.shapes = shapes
        self.reader = reader  # a plain boto3 DynamoDB client, not watched
        self.writes: list[Write] = []
        self.requests: Counter[str] = Counter()
        self._pending: dict[int, list[Write]] = {}
        self._clients: list[Any] = []

    def attach(self, client: Any) -> None:
        if any(c is client for c in self._clients):
            return
        client.meta.events.register("before-parameter-build.dynamodb", self._before)
        client.meta.events.register("after-call.dynamodb", self._after)
        self._clients.append(client)

    def attach_all(self) -> None:
        from pynamodb.models import Model

        from chalicelib import models
        from chalicelib.repositories import base

        for value in vars(models).values():
            if isinstance(value, type) and issubclass(value, Model) and value is not Model:
                self.attach(value._get_connection().connection.client)
        self.attach(base.connection().client)

    def detach_all(self) -> None:
        for client in self._clients:
            client.meta.events.unregister("before-parameter-build.dynamodb", self._before)
            client.meta.events.unregister("after-call.dynamodb", self._after)
        self._clients.clear()

    def take(self) -> tuple[list[Write], Counter[str]]:
        writes, requests = self.writes, self.requests
        self.writes, self.requests = [], Counter()
        return writes, requests

    def _key(self, table: str, item: Item) -> Item:
        return {k: item[k] for k in self.shapes[table].keys}

    def _read(self, table: str, key: Item) -> Item | None:
        item: Item | None = self.reader.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
        return item

    def _before(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        op = model.name
        if op not in WRITE_OPERATIONS:
            return
        writes: list[Write] = []
        if op == "PutItem":
            writes.append(
                Write(params["TableName"], "put", False, self._key(params["TableName"], params["Item"]))
            )
        elif op in ("UpdateItem", "DeleteItem"):
            kind = "update" if op == "UpdateItem" else "delete"
            writes.append(Write(params["TableName"], kind, False, params["Key"]))
        elif op == "BatchWriteItem":
            for table, requests in params["RequestItems"].items():
                for r in requests:
                    if "PutRequest" in r:
                        writes.append(Write(table, "put", False, self._key(table, r["PutRequest"]["Item"])))
                    else:
                        writes.append(Write(table, "delete", False, r["DeleteRequest"]["Key"]))
        else:
            kinds = {"Put": "put", "Update": "update", "Delete": "delete", "ConditionCheck": "check"}
            for entry in params["TransactItems"]:
                ((action, body),) = entry.items()
                key = self._key(body["TableName"], body["Item"]) if action == "Put" else body["Key"]
                writes.append(Write(body["TableName"], kinds[action], True, key))
        for w in writes:
            w.before = self._read(w.table, w.key)
        self._pending[id(context)] = writes

    def _after(self, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        writes = self._pending.pop(id(context), None)
        if writes is None:
            return
        self.requests[model.name] += 1
        failed = "Error" in parsed
        unprocessed = parsed.get("UnprocessedItems") or {}
        if unprocessed:
            raise RuntimeError("BatchWriteItem left items unprocessed; the bench cannot price retries")
        for w in writes:
            w.after = self._read(w.table, w.key)
            w.failed = failed
        self.writes.extend(writes)


# --- the operations -----------------------------------------------------------------


@dataclass
class Row:
    op: str
    requests: Counter[str]
    items: int
    before: Cost
    after: Cost
    note: str = ""


class _Api:
    def __init__(self, client: Any, token: str) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def call(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        data = b"" if body is None else json.dumps(body).encode()
        r = self.client.http.request(method, path, headers=self.headers, body=data)
        if r.status_code != expect:
            raise RuntimeError(f"{method} {path} answered {r.status_code}, not {expect}: {r.body[:300]!r}")
        return json.loads(r.body) if r.body else None


def _png() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 80, 40)).save(out, format="PNG")
    return out.getvalue()


def run(
    client: Any, endpoint: str, token: str, owner_id: str, duplicate_assets: int = DUPLICATE_ASSETS
) -> list[Row]:
    """Each operation once through the app, priced under both index designs."""
    import boto3
    import requests

    from bench import seed
    from chalicelib import config

    now_shapes = shapes_from_models()
    before_shapes = shapes_from_models(keys_only=True)
    reader = boto3.client("dynamodb", endpoint_url=endpoint, region_name=config.region())
    recorder = WriteRecorder(now_shapes, reader)
    recorder.attach_all()
    api = _Api(client, token)
    rows: list[Row] = []

    def measured(op: str, method: str, path: str, body: Any = None, expect: int = 200, note: str = "") -> Any:
        recorder.take()
        answer = api.call(method, path, body, expect)
        writes, requests_made = recorder.take()
        rows.append(
            Row(op, requests_made, len(writes), price(writes, before_shapes), price(writes, now_shapes), note)
        )
        return answer

    try:
        kit = {
            "name": "Harbor characters",
            "description": "Main cast of the harbor episode: faces, outfits and props, front and side.",
            "category": "CHARACTERS",
            "tags": ["harbor", "episode-3", "cast"],
        }
        mid = measured("create manifest", "POST", "/api/manifests", kit, 201)["manifest_id"]
        measured("update manifest name", "PUT", f"/api/manifests/{mid}", {"name": "Harbor cast"})
        measured("update manifest description", "PUT", f"/api/manifests/{mid}", {"description": "Main cast."})
        asset_body = {"name": "Captain", "asset_type": "CHARACTER", "description": "Weathered, grey beard"}
        measured("create asset", "POST", f"/api/manifests/{mid}/assets", asset_body, 201)
        doomed = api.call("POST", f"/api/manifests/{mid}/assets", asset_body, 201)["asset_id"]
        measured("delete asset", "DELETE", f"/api/assets/{doomed}")
        project = {"title": "Harbor episode 3", "manifest_id": mid}
        pid = measured("attach project (create it on a manifest)", "POST", "/api/projects", project, 201)[
            "project_id"
        ]
        measured("detach project (manifest_id: null)", "PUT", f"/api/projects/{pid}", {"manifest_id": None})
        pid = api.call("POST", "/api/projects", project, 201)["project_id"]
        measured("delete project (detaches)", "DELETE", f"/api/projects/{pid}")

        image = _png()
        aid = api.call("POST", f"/api/manifests/{mid}/assets", asset_body, 201)["asset_id"]
        ticket = measured(
            "upload URL (ticket)",
            "POST",
            f"/api/assets/{aid}/upload-url",
            {"content_type": "image/png", "size": len(image)},
            201,
        )
        requests.put(ticket["url"], data=image, headers={"Content-Type": "image/png"}, timeout=30)
        measured(
            "upload complete (first image: sets the manifest thumbnail)",
            "POST",
            f"/api/assets/{aid}/upload-complete",
            {"upload_id": ticket["upload_id"]},
        )

        largest = {**kit, "description": "d" * 2000, "tags": [f"{i:02d}" + "t" * 48 for i in range(20)]}
        big = api.call("POST", "/api/manifests", largest, 201)["manifest_id"]
        measured(
            "create asset (largest list fields: 2,000-char description, 20 tags of 50)",
            "POST",
            f"/api/manifests/{big}/assets",
            asset_body,
            201,
        )

        source = seed.seed_manifest_with_assets(owner_id, duplicate_assets)
        measured(
            f"duplicate ({duplicate_assets} assets)", "POST", f"/api/manifests/{source}/duplicate", None, 201
        )
        measured("delete manifest", "DELETE", f"/api/manifests/{mid}")
    finally:
        recorder.detach_all()
    return rows


def markdown(rows: list[Row]) -> list[str]:
    lines = [
        "| operation | write requests | items written | WCU before (base + index) | WCU after (base + index) "
        "| index entries written before -> after |",
        "|---|---|--:|--:|--:|--:|",
    ]
    for r in rows:
        reqs = ", ".join(f"{n} {c}" if c > 1 else n for n, c in sorted(r.requests.items()))
        lines.append(
            f"| {r.op} | {reqs} | {r.items} | {r.before.total} ({r.before.base} + {r.before.index}) "
            f"| {r.after.total} ({r.after.base} + {r.after.index}) "
            f"| {r.before.entries} -> {r.after.entries} |"
        )
    return lines


def main() -> None:

    from chalice.test import Client
    from local_backend import provision, start_moto

    server, endpoint = start_moto()
    env = provision(endpoint)
    from app import app
    from chalicelib.auth import mint_dev_token

    owner = f"bench-writes-{uuid.uuid4().hex[:6]}"
    try:
        with Client(app, stage_name="local", project_dir=str(ROOT)) as client:
            rows = run(
                client,
                endpoint,
                mint_dev_token(owner, env["JWT_SECRET"]),
                owner,
            )
        print("\n".join(markdown(rows)))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
