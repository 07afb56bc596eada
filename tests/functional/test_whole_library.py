"""Without `limit`, the list answers the owner's whole library up to the cap
(issue 9, point 1): the web app never sends `limit` nor follows a cursor."""

from __future__ import annotations

import uuid

import pytest

from tests.functional.paging import next_link_params, url

CAP = 1000  # config.library_cap()'s default, documented in README and OpenAPI


@pytest.fixture(scope="module")
def big_library(chalice_client, jwt_secret):
    """An owner with CAP + 1 manifests, written in batches (BatchWriteItem)."""
    from bench.seed import seed_manifests
    from tests.conftest import Api, token_for

    owner = f"user-{uuid.uuid4()}"
    ids = seed_manifests(owner, CAP + 1)
    return Api(chalice_client, token_for(owner, jwt_secret)), set(ids)


def test_a_library_of_55_comes_back_whole_without_limit(alice):
    made = {alice.manifest(name=f"Kit {i}")["manifest_id"] for i in range(55)}
    r = alice.get(url("/api/manifests", sort_by="updated_at", sort_order="desc"))
    assert r.status == 200
    assert {m["manifest_id"] for m in r.json} == made
    assert "x-next-cursor" not in r.headers and "link" not in r.headers


def test_with_limit_the_page_is_still_that_size(alice):
    for i in range(3):
        alice.manifest(name=f"Kit {i}")
    r = alice.get(url("/api/manifests", limit=2))
    assert len(r.json) == 2 and "x-next-cursor" in r.headers


def test_beyond_the_cap_the_cursor_headers_lead_to_the_rest(big_library):
    api, ids = big_library
    r = api.get(url("/api/manifests", sort_by="name", sort_order="asc"))
    assert r.status == 200
    assert len(r.json) == CAP
    names = [m["name"].casefold() for m in r.json]
    assert names == sorted(names)
    cursor = r.headers["x-next-cursor"]
    assert next_link_params(r.headers["link"]) == {"sort_by": "name", "sort_order": "asc", "cursor": cursor}
    rest = api.get(url("/api/manifests", sort_by="name", sort_order="asc", cursor=cursor))
    assert rest.status == 200 and len(rest.json) == 1
    assert "x-next-cursor" not in rest.headers
    assert {m["manifest_id"] for m in r.json + rest.json} == ids


def test_a_filtered_whole_library_read_pages_the_same_way(big_library):
    api, _ = big_library
    everything = api.get(url("/api/manifests", category="CHARACTERS")).json
    assert 700 < len(everything) <= CAP  # three in four seeded manifests are CHARACTERS
    assert all(m["category"] == "CHARACTERS" for m in everything)


def test_openapi_documents_the_default(anonymous):
    doc = anonymous.get("/api/openapi.json").json
    params = {p["name"]: p for p in doc["paths"]["/api/manifests"]["get"]["parameters"]}
    assert "whole library" in params["limit"]["description"]
    assert "1000" in params["limit"]["description"]
    assert params["limit"]["required"] is False
