"""What a list page costs DynamoDB: one Query of limit+1 entries where the index
projects the list fields, and the same list items the detail view shows.

Calls and items read are observed on PynamoDB's own botocore client through
botocore's event hooks (nothing is replaced); items read is what DynamoDB bills
(ScannedCount for a Query, the items a BatchGetItem returns).
"""

from __future__ import annotations

import contextlib
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from bench.instrument import items_read
from tests.conftest import Api, token_for
from tests.functional.paging import url
from tests.functional.test_uploads import upload
from tests.imagefactory import image_bytes

LIMIT = 2
THUMBNAIL = "thumbnails/listing-cost/first.webp"
PROJECTED = [
    *[(sort_by, {}) for sort_by in ("updated_at", "created_at", "name", "times_used", "asset_count")],
    ("updated_at", {"category": "CHARACTERS"}),
    ("updated_at", {"status": "READY"}),
    ("updated_at", {"category": "CHARACTERS", "status": "READY"}),
]
KEYS_ONLY = [("name", {"category": "CHARACTERS"}), ("asset_count", {"status": "READY"})]


@contextlib.contextmanager
def dynamodb_reads() -> Iterator[dict[str, Any]]:
    """Count the calls and items read on the manifest table's client meanwhile."""
    from chalicelib.models import ManifestModel

    seen: dict[str, Any] = {"calls": Counter(), "items": 0}

    def after_call(parsed: dict[str, Any], model: Any, **_: Any) -> None:
        seen["calls"][model.name] += 1
        seen["items"] += items_read(model.name, parsed)

    events = ManifestModel._get_connection().connection.client.meta.events
    events.register("after-call.dynamodb", after_call, unique_id="test-listing-cost")
    try:
        yield seen
    finally:
        events.unregister("after-call.dynamodb", unique_id="test-listing-cost")


@pytest.fixture(scope="module")
def library(chalice_client: Any, jwt_secret: str) -> Api:
    """Manifests whose every list field differs from its default: description,
    tags, thumbnail, READY status, assets, uses and several revisions."""
    from chalicelib.repositories.base import utcnow
    from chalicelib.repositories.manifests import ManifestRepository

    owner = f"user-{uuid.uuid4()}"
    api = Api(chalice_client, token_for(owner, jwt_secret))
    for i in range(5):
        mid = api.manifest(
            name=f"Kit {i}", description=f"about kit {i}", category="CHARACTERS", tags=["a", f"t{i}"]
        )["manifest_id"]
        for _ in range(i % 3 + 1):
            api.asset(mid)
        for _ in range(i % 2 + 1):
            api.project(manifest_id=mid)
        repo = ManifestRepository()
        revision = repo.update(owner, mid, {"status": "READY"}, utcnow()).revision
        assert repo.set_thumbnail(owner, mid, THUMBNAIL, int(revision))
    return api


@pytest.mark.parametrize(("sort_by", "filters"), PROJECTED, ids=str)
def test_a_projected_list_page_is_one_query_of_limit_plus_one_items_showing_what_the_detail_shows(
    library, sort_by, filters
):
    with dynamodb_reads() as seen:
        r = library.get(url("/api/manifests", sort_by=sort_by, limit=LIMIT, **filters))
    assert r.status == 200 and len(r.json) == LIMIT
    assert seen["calls"] == Counter({"Query": 1})
    assert seen["items"] <= LIMIT + 1
    for item in r.json:
        detail = library.get(f"/api/manifests/{item['manifest_id']}").json
        assert item == {k: detail[k] for k in item}
        assert item["thumbnail_url"] and item["description"] and item["last_used_at"]


@pytest.mark.parametrize(("sort_by", "filters"), KEYS_ONLY, ids=str)
def test_a_keys_only_filtered_sort_reads_its_page_from_the_base_table(library, sort_by, filters):
    with dynamodb_reads() as seen:
        r = library.get(url("/api/manifests", sort_by=sort_by, limit=LIMIT, **filters))
    assert r.status == 200 and len(r.json) == LIMIT
    assert seen["calls"] == Counter({"Query": 1, "BatchGetItem": 1})
    assert seen["items"] == 2 * LIMIT + 1
    for item in r.json:
        detail = library.get(f"/api/manifests/{item['manifest_id']}").json
        assert item == {k: detail[k] for k in item}


def test_a_completed_upload_moves_its_manifest_to_the_top_showing_its_new_updated_at(alice):
    first = alice.manifest(name="first")["manifest_id"]
    asset_id = alice.asset(first)["asset_id"]
    alice.manifest(name="second")
    _, done = upload(alice, asset_id, image_bytes("image/png"))
    assert done.status == 200
    top = alice.get("/api/manifests").json[0]
    detail = alice.get(f"/api/manifests/{first}").json
    assert top["manifest_id"] == first
    assert top == {k: detail[k] for k in top}


@pytest.mark.parametrize("sort_by", ["updated_at", "created_at"])
def test_a_project_list_page_is_one_query_showing_what_the_project_shows(alice, sort_by):
    from chalicelib.models import ProjectModel

    mid = alice.manifest()["manifest_id"]
    for i in range(3):
        pid = alice.project(title=f"Episode {i}", prompt=f"scene {i}", manifest_id=mid)["project_id"]
        assert alice.put(f"/api/projects/{pid}", {"title": f"Episode {i}b"}).status == 200
    events = ProjectModel._get_connection().connection.client.meta.events
    seen: Counter[str] = Counter()

    def after_call(model: Any, **_: Any) -> None:
        seen[model.name] += 1

    events.register("after-call.dynamodb", after_call, unique_id="test-project-list-cost")
    try:
        r = alice.get(url("/api/projects", sort_by=sort_by, limit=LIMIT))
    finally:
        events.unregister("after-call.dynamodb", unique_id="test-project-list-cost")
    assert r.status == 200 and len(r.json) == LIMIT
    assert seen == Counter({"Query": 1})
    for item in r.json:
        assert item["revision"] == 2 and item["manifest_version"] == 1
        assert item == alice.get(f"/api/projects/{item['project_id']}").json
