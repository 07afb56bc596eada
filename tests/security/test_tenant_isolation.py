"""Tenant isolation (BOLA): owner B calls every operation of the OpenAPI document on
owner A's resources, and none of them answers anything but 404 or changes anything.

The list of operations comes from GET /api/openapi.json, never from a hand-written
list, and the matrix asserts it covered every one: a route added later without an
owner check fails here. Bodies come from a per-schema table that fails loudly when a
request schema appears without an entry. A's data is compared byte for byte before
and after: as the API shows it to A, as DynamoDB stores it (consistent reads through
chalicelib.models), and as S3 holds A's objects.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import pytest

from chalicelib import schemas
from chalicelib.models import (
    AssetLocatorModel,
    AssetModel,
    ImageRefModel,
    ManifestModel,
    ProjectModel,
    UploadModel,
    VersionModel,
)
from chalicelib.services.uploads import owner_prefix
from chalicelib.storage import storage
from tests.conftest import Api, Response, token_for
from tests.functional.test_uploads import complete, put, request_upload
from tests.imagefactory import image_bytes

HTTP_METHODS = {"get", "put", "post", "delete", "patch"}
BOUNDARY = "----bola-boundary"
SIGNED_QUERY = re.compile(r"(https?://[^\"?\s]+)\?[^\"\s]*")


@dataclass
class Victim:
    """Owner A and everything A owns, with the ids B will aim at."""

    api: Api
    owner_id: str
    manifest_id: str = ""
    asset_id: str = ""  # has a verified image and a pending upload ticket
    project_id: str = ""
    pending_upload_id: str = ""
    idempotency_key: str = field(default_factory=lambda: f"bola-{uuid.uuid4()}")
    manifest_ids: list[str] = field(default_factory=list)
    project_ids: list[str] = field(default_factory=list)
    upload_ids: list[str] = field(default_factory=list)

    def path_values(self) -> dict[str, str]:
        return {
            "manifest_id": self.manifest_id,
            "asset_id": self.asset_id,
            "project_id": self.project_id,
            "version": "1",  # A's manifest has frozen versions 1 and 2
        }

    def asset_ids(self) -> list[str]:
        return [
            a.asset_id
            for mid in self.manifest_ids
            for a in AssetModel.query(mid, consistent_read=True)
            if a.owner_id == self.owner_id
        ]

    def secrets(self) -> set[str]:
        """Strings that must never appear in an answer to B."""
        return {
            self.owner_id,
            owner_prefix(self.owner_id),
            *self.manifest_ids,
            *self.asset_ids(),
            *self.project_ids,
            *self.upload_ids,
        }


# --- request bodies, one per request schema ---------------------------------------
# Each builds a body that A itself could send successfully; B sends the same. An
# entry says whether its body names one of A's resources (so the answer must be 404
# even on a route without an id in the path).


@dataclass(frozen=True)
class Body:
    build: Callable[[Victim], dict[str, Any]]
    names_victim: bool = False


JSON_BODIES: dict[str, Body] = {
    "ManifestCreate": Body(lambda v: {"name": "Matrix kit", "category": "STYLE_KIT", "tags": ["bola"]}),
    "ManifestUpdate": Body(lambda v: {"name": "Taken over", "description": "by B", "tags": ["b"]}),
    "AssetCreate": Body(lambda v: {"name": "Intruder", "asset_type": "PROP", "user_tags": ["b"]}),
    "AssetUpdate": Body(lambda v: {"name": "Renamed", "sort_order": 7, "reverse_prompt": "by B"}),
    "ProjectCreate": Body(lambda v: {"title": "B's", "manifest_id": v.manifest_id}, names_victim=True),
    "ProjectUpdate": Body(lambda v: {"title": "B's", "manifest_id": v.manifest_id}, names_victim=True),
    "UploadUrlRequest": Body(lambda v: {"content_type": "image/png", "size": 1234}),
    "UploadComplete": Body(lambda v: {"upload_id": v.pending_upload_id}, names_victim=True),
}
MULTIPART_FIELDS: dict[str, bytes] = {"file": image_bytes("image/png", (32, 32))}


def request_body(op: dict[str, Any], victim: Victim) -> tuple[bytes | None, dict[str, str], bool]:
    """(raw body, headers, names_victim) for an operation, from its documented request schema."""
    content = (op.get("requestBody") or {}).get("content") or {}
    if not content:
        return None, {}, False
    if "application/json" in content:
        name = content["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
        if name not in JSON_BODIES:
            pytest.fail(f"Request schema {name} has no entry in JSON_BODIES: add a valid body for it")
        entry = JSON_BODIES[name]
        body = entry.build(victim)
        getattr(schemas, name).model_validate(body)  # the table must hold valid bodies
        return json.dumps(body).encode(), {"Content-Type": "application/json"}, entry.names_victim
    if "multipart/form-data" in content:
        fields = content["multipart/form-data"]["schema"]["properties"]
        missing = set(fields) - set(MULTIPART_FIELDS)
        if missing:
            pytest.fail(f"Multipart fields {sorted(missing)} have no entry in MULTIPART_FIELDS")
        raw = b"".join(
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"; filename="x.png"\r\n'
            f"Content-Type: image/png\r\n\r\n".encode()
            + MULTIPART_FIELDS[name]
            + b"\r\n"
            for name in fields
        )
        raw += f"--{BOUNDARY}--\r\n".encode()
        return raw, {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}, False
    pytest.fail(f"No body builder for media types {sorted(content)}")


# --- A's world ---------------------------------------------------------------------


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, op in item.items():
            if method in HTTP_METHODS:
                yield path, method.upper(), op


# Values for required query parameters (a request A itself could send).
REQUIRED_QUERY = {"from": "1", "to": "current"}
# Path parameters that are numbers, not ids: the same value names nothing of B's.
NUMERIC_PATH_PARAMS = {"version"}


def fill(path: str, values: dict[str, str], op: dict[str, Any] | None = None) -> str:
    names = re.findall(r"{(\w+)}", path)
    unknown = [n for n in names if n not in values]
    if unknown:
        pytest.fail(f"{path}: no value for path parameters {unknown}; teach the matrix what they name")
    filled = path.format(**{n: values[n] for n in names})
    required = [p["name"] for p in (op or {}).get("parameters", []) if p["in"] == "query" and p["required"]]
    missing = [n for n in required if n not in REQUIRED_QUERY]
    if missing:
        pytest.fail(f"{path}: no value for required query parameters {missing}; teach the matrix")
    return filled + (f"?{urlencode({n: REQUIRED_QUERY[n] for n in required})}" if required else "")


def etag_path(path: str, values: dict[str, str]) -> str:
    """Where the ETag of the resource a path ends in is read (its last id names it)."""
    last = re.findall(r"{(\w+)}", path)[-1]
    return {
        "manifest_id": "/api/manifests/{manifest_id}",
        "asset_id": "/api/assets/{asset_id}",
        "project_id": "/api/projects/{project_id}",
    }[last].format(**values)


def header_names(op: dict[str, Any]) -> set[str]:
    return {p["name"] for p in op.get("parameters", []) if p["in"] == "header"}


KNOWN_HEADERS = {"If-Match", "Idempotency-Key"}


def upload_image(api: Api, asset_id: str) -> str:
    data = image_bytes("image/png", (120, 90))
    ticket = request_upload(api, asset_id, data)
    put(ticket, data)
    r = complete(api, asset_id, ticket["upload_id"])
    assert r.status == 200, r
    return str(ticket["upload_id"])


@pytest.fixture(scope="module")
def document(chalice_client: Any) -> dict[str, Any]:
    r = Api(chalice_client, None).get("/api/openapi.json")
    assert r.status == 200
    doc: dict[str, Any] = r.json
    return doc


@pytest.fixture(scope="module")
def victim(chalice_client: Any, jwt_secret: str, document: dict[str, Any]) -> Victim:
    """A full set of A's resources: two manifests, assets (one with a verified image
    and a pending upload ticket), projects referencing the manifest, and every
    creating POST already done once by A with the Idempotency-Key B will replay."""
    owner_id = f"victim-{uuid.uuid4()}"
    a = Victim(Api(chalice_client, token_for(owner_id, jwt_secret)), owner_id)
    manifest = a.api.manifest(name="A's kit", description="A's secret plans", tags=["a"])
    a.manifest_id = manifest["manifest_id"]
    a.asset_id = a.api.asset(a.manifest_id, name="A's hero")["asset_id"]
    a.api.asset(a.manifest_id, name="A's sidekick", asset_type="PROP")
    a.upload_ids.append(upload_image(a.api, a.asset_id))
    a.project_id = a.api.project(title="A's film", manifest_id=a.manifest_id)["project_id"]
    a.project_ids += [
        a.project_id,
        a.api.project(title="A's sequel", manifest_id=a.manifest_id)["project_id"],
    ]
    # Version 1 is frozen by the projects' pin; version 2 by an edit and a freeze.
    assert a.api.put(f"/api/manifests/{a.manifest_id}", {"description": "A's newer plans"}).status == 200
    assert a.api.post(f"/api/manifests/{a.manifest_id}/versions").status == 201
    a.manifest_ids += [a.manifest_id, a.api.manifest(name="A's other kit")["manifest_id"]]
    a.pending_upload_id = request_upload(a.api, a.asset_id, image_bytes())["upload_id"]
    a.upload_ids.append(a.pending_upload_id)

    # A's own idempotent creates, with the key B will send: B must never get A's replay.
    for path, method, op in operations(document):
        if "Idempotency-Key" not in header_names(op):
            continue
        raw, headers, _ = request_body(op, a)
        r = a.api.call(
            method,
            fill(path, a.path_values(), op),
            raw=raw or b"",
            headers={**headers, "Idempotency-Key": a.idempotency_key},
        )
        assert r.status == 201, (method, path, r)
        created = r.json
        if "manifest_id" in created and path.endswith(("/manifests", "/duplicate")):
            a.manifest_ids.append(created["manifest_id"])
        if "project_id" in created:
            a.project_ids.append(created["project_id"])
        if "upload_id" in created:
            a.upload_ids.append(created["upload_id"])
    return a


# --- snapshots -----------------------------------------------------------------------


def _api_view(a: Victim) -> dict[str, Any]:
    """What A sees, with the signatures of signed image URLs (minted per read) removed."""
    paths = [
        "/api/manifests?limit=200",
        "/api/projects?limit=200",
        f"/api/manifests/{a.manifest_id}/projects?limit=200",
        *(f"/api/manifests/{m}" for m in a.manifest_ids),
        *(f"/api/manifests/{m}/assets" for m in a.manifest_ids),
        *(f"/api/assets/{x}" for x in a.asset_ids()),
        *(f"/api/projects/{p}" for p in a.project_ids),
    ]
    view = {}
    for path in paths:
        r = a.api.get(path)
        assert r.status == 200, (path, r)
        view[path] = {"etag": r.headers.get("etag"), "body": SIGNED_QUERY.sub(r"\1", r.text)}
    return view


def _items(a: Victim) -> dict[str, str]:
    """A's DynamoDB items, read strongly consistent, serialized exactly as stored."""
    out: dict[str, str] = {}

    def add(label: str, item: Any) -> None:
        out[label] = json.dumps(item.serialize() if item is not None else None, sort_keys=True)

    for m in ManifestModel.query(a.owner_id, consistent_read=True):
        add(f"manifest {m.manifest_id}", m)
        for v in VersionModel.query(m.manifest_id, consistent_read=True):
            add(f"version {m.manifest_id} {v.version}", v)
        for asset in AssetModel.query(m.manifest_id, consistent_read=True):
            add(f"asset {asset.asset_id}", asset)
            add(f"locator {asset.asset_id}", _get(AssetLocatorModel, asset.asset_id))
            for key in (asset.reference_image_key,):
                if key:
                    add(f"image-ref {key}", _get(ImageRefModel, key))
    for p in ProjectModel.query(a.owner_id, consistent_read=True):
        add(f"project {p.project_id}", p)
    for upload_id in a.upload_ids:
        add(f"upload {upload_id}", _get(UploadModel, upload_id))
    return out


def _get(model: Any, key: str) -> Any:
    try:
        return model.get(key, consistent_read=True)
    except model.DoesNotExist:
        return None


def _objects(a: Victim) -> dict[str, bytes]:
    """Every S3 object under A's key prefixes, with its bytes."""
    store = storage()
    out = {}
    for top in ("images", "thumbnails", "versions"):
        pages = store.client.get_paginator("list_objects_v2").paginate(
            Bucket=store.bucket, Prefix=f"{top}/{owner_prefix(a.owner_id)}/"
        )
        for page in pages:
            for obj in page.get("Contents", []):
                body = store.client.get_object(Bucket=store.bucket, Key=obj["Key"])["Body"].read()
                out[obj["Key"]] = body
    return out


def snapshot(a: Victim) -> dict[str, Any]:
    return {"api": _api_view(a), "dynamodb": _items(a), "s3": _objects(a)}


def assert_unchanged(before: dict[str, Any], after: dict[str, Any]) -> None:
    for part in ("dynamodb", "s3", "api"):
        changed = sorted(
            k for k in before[part].keys() | after[part].keys() if before[part].get(k) != after[part].get(k)
        )
        assert not changed, f"B changed A's {part}: {changed}"
    assert before == after


# --- the matrix ----------------------------------------------------------------------


@dataclass
class Outcome:
    method: str
    path: str
    variant: str
    status: int
    problem: str | None


def assert_no_leak(r: Response, secrets: set[str], label: str) -> str | None:
    text = r.text + json.dumps(r.headers)
    leaked = sorted(s for s in secrets if s in text)
    return f"{label} revealed {leaked}" if leaked else None


def call_as(api: Api, method: str, path: str, raw: bytes | None, headers: dict[str, str]) -> Response:
    return api.call(method, path, raw=raw or b"", headers=headers)


def test_every_documented_operation_on_another_owners_resources_answers_404_and_changes_nothing(
    document: dict[str, Any], victim: Victim, bob: Api
) -> None:
    a = victim
    ours = {(path, method) for path, method, _ in operations(document)}
    assert len(ours) >= 25, "the document lists fewer operations than the API has"
    secrets = a.secrets()
    before = snapshot(a)
    etags = {}
    outcomes: list[Outcome] = []
    covered: set[tuple[str, str]] = set()

    for path, method, op in operations(document):
        unknown_headers = header_names(op) - KNOWN_HEADERS
        if unknown_headers:
            pytest.fail(f"{method} {path}: header parameters {unknown_headers} unknown to the matrix")
        raw, headers, body_names_victim = request_body(op, a)
        target = fill(path, a.path_values(), op)
        names_victim = target != path or body_names_victim
        variants: dict[str, dict[str, str]] = {"plain": {}}
        if "If-Match" in header_names(op):
            # A's current ETag, so a 412 cannot stand in for the 404.
            etag_of = etag_path(path, a.path_values())
            etags[etag_of] = etags.get(etag_of) or a.api.get(etag_of).headers["etag"]
            variants["If-Match: A's ETag"] = {"If-Match": etags[etag_of]}
        if "Idempotency-Key" in header_names(op):
            variants["A's Idempotency-Key"] = {"Idempotency-Key": a.idempotency_key}

        for variant, extra in variants.items():
            label = f"{method} {path} [{variant}]"
            r = call_as(bob, method, target, raw, {**headers, **extra})
            problem = assert_no_leak(r, secrets, label)
            if names_victim:
                if r.status != 404:
                    problem = f"{label}: {r.status} instead of 404: {r.text[:200]}"
                elif "/{" in path:
                    # Indistinguishable from an id that exists nowhere.
                    nowhere = fill(
                        path,
                        {
                            k: v if k in NUMERIC_PATH_PARAMS else str(uuid.uuid4())
                            for k, v in a.path_values().items()
                        },
                        op,
                    )
                    unknown = call_as(bob, method, nowhere, raw, {**headers, **extra})
                    if (unknown.status, unknown.json) != (r.status, r.json):
                        problem = f"{label}: A's id answers {r.json}, an unknown id {unknown.json}"
            elif op.get("security") == [] or method in {"GET", "POST"}:
                # Routes that name nothing of A's act on B's own data (or nobody's).
                if not 200 <= r.status < 300:
                    problem = problem or f"{label}: {r.status} {r.text[:200]}"
                elif method == "GET" and isinstance(r.json, list):
                    ids = {v for item in r.json for k, v in item.items() if k.endswith("_id")}
                    if ids & secrets:
                        problem = f"{label}: B's listing includes A's {sorted(ids & secrets)}"
            else:
                problem = f"{label}: a {method} that names no resource; teach the matrix what it does"
            outcomes.append(Outcome(method, path, variant, r.status, problem))
        covered.add((path, method))

    assert covered == ours, f"operations not exercised: {sorted(ours - covered)}"
    problems = [o.problem for o in outcomes if o.problem]
    assert not problems, "\n".join(problems)
    assert_unchanged(before, snapshot(a))


# --- cursors and uploads -----------------------------------------------------------------


def paginated_operations(document: dict[str, Any]) -> list[str]:
    return [
        path
        for path, method, op in operations(document)
        if method == "GET" and any(p["name"] == "cursor" and p["in"] == "query" for p in op["parameters"])
    ]


def first_cursor(api: Api, path: str) -> str:
    r = api.get(f"{path}?{urlencode({'limit': 1})}")
    assert r.status == 200, r
    assert "x-next-cursor" in r.headers, f"{path}: A needs more than one item for this test"
    return str(r.headers["x-next-cursor"])


def test_every_paginated_list_refuses_another_owners_cursor(
    document: dict[str, Any], victim: Victim, bob: Api
) -> None:
    bob_manifest = bob.manifest()["manifest_id"]
    paths = paginated_operations(document)
    assert len(paths) >= 3
    for path in paths:
        cursor = first_cursor(victim.api, fill(path, victim.path_values()))
        own_path = fill(path, {"manifest_id": bob_manifest})
        r = bob.get(f"{own_path}?{urlencode({'limit': 1, 'cursor': cursor})}")
        assert r.status == 400, (path, r)
        assert "cursor" in r.json["detail"].lower()


def _swap(text: str, at: int) -> str:
    """`text` with one base64url character replaced by another."""
    return text[:at] + ("A" if text[at] != "A" else "B") + text[at + 1 :]


TAMPERINGS: dict[str, Callable[[str], str]] = {
    "signature flipped": lambda c: _swap(c, len(c) - 5),
    "payload edited": lambda c: _swap(c, len(c.split(".")[0]) // 2),
    "signature dropped": lambda c: c.split(".")[0],
    "truncated": lambda c: c[: len(c) // 2],
    "not base64": lambda c: "%%%." + c.split(".")[-1],
}


@pytest.mark.parametrize("tampering", sorted(TAMPERINGS))
def test_every_paginated_list_refuses_a_tampered_cursor(
    document: dict[str, Any], victim: Victim, tampering: str
) -> None:
    for path in paginated_operations(document):
        filled = fill(path, victim.path_values())
        cursor = TAMPERINGS[tampering](first_cursor(victim.api, filled))
        r = victim.api.get(f"{filled}?{urlencode({'limit': 1, 'cursor': cursor})}")
        assert r.status == 400, (path, tampering, r)


def test_another_owner_cannot_complete_an_upload_id_on_their_own_asset(victim: Victim, bob: Api) -> None:
    before = json.dumps(_get(UploadModel, victim.pending_upload_id).serialize(), sort_keys=True)
    bob_asset = bob.asset(bob.manifest()["manifest_id"])["asset_id"]
    r = complete(bob, bob_asset, victim.pending_upload_id)
    assert r.status == 404, r
    assert bob.get(f"/api/assets/{bob_asset}").json["reference_image_url"] is None
    after = json.dumps(_get(UploadModel, victim.pending_upload_id).serialize(), sort_keys=True)
    assert before == after, "B's attempt changed A's ticket"
