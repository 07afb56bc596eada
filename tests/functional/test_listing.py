"""GET /manifests: every sort and filter, cursors, headers and refusals.

One catalog of manifests is built per module (listing only reads it); its
owner also has a soft-deleted manifest, and another owner has look-alikes,
so every walk below also checks that neither ever appears.
"""

from __future__ import annotations

import itertools
import uuid
from typing import Any

import pytest

from tests.conftest import Api, token_for
from tests.functional.paging import next_link_params, url, walk

SORTS = ("updated_at", "created_at", "name", "times_used", "asset_count")
ORDERS = ("asc", "desc")
FILTERS: tuple[dict[str, str], ...] = (
    {},
    {"category": "CHARACTERS"},
    {"status": "READY"},
    {"category": "CHARACTERS", "status": "DRAFT"},
)
# name, category, assets, projects attached, READY?
CATALOG = (
    ("banana", "CHARACTERS", 2, 1, False),
    ("Apple", "ENVIRONMENT", 0, 2, True),
    ("cherry", "CHARACTERS", 3, 0, True),
    ("apple", "CHARACTERS", 1, 1, False),
    ("APPLE", "CUSTOM", 0, 0, False),
    ("Date", "CHARACTERS", 0, 3, False),
    ("elder", "STYLE_KIT", 1, 0, True),
    ("fig", "CHARACTERS", 2, 0, False),
    ("Éclair", "CHARACTERS", 0, 1, True),
)


def _mark_ready(owner_id: str, manifest_id: str) -> None:
    """Status changes come from the processing engine (a later issue); set it the way it will."""
    from chalicelib.repositories.base import utcnow
    from chalicelib.repositories.manifests import ManifestRepository

    ManifestRepository().update(owner_id, manifest_id, {"status": "READY"}, utcnow())


@pytest.fixture(scope="module")
def catalog(chalice_client: Any, jwt_secret: str) -> tuple[Api, list[dict[str, Any]]]:
    owner = f"user-{uuid.uuid4()}"
    api = Api(chalice_client, token_for(owner, jwt_secret))
    for name, category, assets, projects, ready in CATALOG:
        mid = api.manifest(name=name, category=category)["manifest_id"]
        for i in range(assets):
            api.asset(mid, name=f"{name}{i}")
        for _ in range(projects):
            api.project(manifest_id=mid)
        if ready:
            _mark_ready(owner, mid)
    gone = api.manifest(name="apple deleted", category="CHARACTERS")["manifest_id"]
    assert api.delete(f"/api/manifests/{gone}").status == 200
    other = Api(chalice_client, token_for(f"user-{uuid.uuid4()}", jwt_secret))
    for name, category, *_ in CATALOG[:3]:
        other.manifest(name=name, category=category)
    everything, _ = walk(api, "/api/manifests", limit=200)
    assert len(everything) == len(CATALOG)
    return api, everything


def _key(sort_by: str, m: dict[str, Any]) -> Any:
    if sort_by == "name":
        return (m["name"].casefold(), m["manifest_id"])
    if sort_by in ("updated_at", "created_at"):
        return (m[sort_by], m["manifest_id"])
    return m[sort_by]


def _expected(items: list[dict[str, Any]], filters: dict[str, str]) -> list[dict[str, Any]]:
    return [m for m in items if all(m[k] == v for k, v in filters.items())]


@pytest.mark.parametrize(
    ("sort_by", "sort_order", "filters"),
    list(itertools.product(SORTS, ORDERS, FILTERS)),
    ids=lambda v: "-".join(f"{k}={x}" for k, x in v.items()) or "unfiltered" if isinstance(v, dict) else v,
)
def test_walking_every_page_yields_each_matching_manifest_once_in_order(
    catalog, sort_by, sort_order, filters
):
    api, everything = catalog
    expected = _expected(everything, filters)
    assert expected, "each filter must match something to be meaningful"
    items, pages = walk(api, "/api/manifests", sort_by=sort_by, sort_order=sort_order, limit=2, **filters)
    ids = [m["manifest_id"] for m in items]
    assert len(ids) == len(set(ids)), "a manifest appeared twice"
    assert set(ids) == {m["manifest_id"] for m in expected}, "gaps or strangers"
    assert pages == max(1, -(-len(expected) // 2))
    keys = [_key(sort_by, m) for m in items]
    assert keys == sorted(keys, reverse=sort_order == "desc")
    # one big page has exactly the same order as the walk (ties included)
    single = api.get(url("/api/manifests", sort_by=sort_by, sort_order=sort_order, limit=200, **filters))
    assert [m["manifest_id"] for m in single.json] == ids
    assert "x-next-cursor" not in single.headers and "link" not in single.headers


def test_default_order_is_most_recently_updated_first(catalog):
    api, everything = catalog
    r = api.get("/api/manifests")
    assert r.status == 200
    keys = [(m["updated_at"], m["manifest_id"]) for m in r.json]
    assert keys == sorted(keys, reverse=True)
    assert [m["manifest_id"] for m in r.json] == [m["manifest_id"] for m in everything]


def test_name_order_ignores_case_and_breaks_ties_the_same_way_every_time(catalog):
    api, _ = catalog
    asc, _ = walk(api, "/api/manifests", sort_by="name", sort_order="asc", limit=1)
    names = [m["name"] for m in asc]
    assert [n.casefold() for n in names[:3]] == ["apple"] * 3
    assert [n for n in names[3:] if n != "Éclair"] == ["banana", "cherry", "Date", "elder", "fig"]
    apples = [m["manifest_id"] for m in asc[:3]]
    assert apples == sorted(apples)
    desc = walk(api, "/api/manifests", sort_by="name", sort_order="desc", limit=1)[0]
    assert [m["manifest_id"] for m in desc] == [m["manifest_id"] for m in reversed(asc)]


def test_counter_sorts_follow_assets_and_projects(catalog):
    api, _ = catalog
    by_used = api.get(url("/api/manifests", sort_by="times_used", sort_order="desc")).json
    assert [m["times_used"] for m in by_used][:2] == [3, 2]
    assert by_used[0]["name"] == "Date"
    by_count = api.get(url("/api/manifests", sort_by="asset_count", sort_order="desc")).json
    assert by_count[0]["name"] == "cherry" and by_count[0]["asset_count"] == 3
    by_count_asc = api.get(url("/api/manifests", sort_by="asset_count", sort_order="asc")).json
    assert [m["asset_count"] for m in by_count_asc] == sorted(m[2] for m in CATALOG)


def test_filters_narrow_to_category_status_or_both(catalog):
    api, _ = catalog
    names = {
        "category": {m["name"] for m in api.get("/api/manifests?category=CHARACTERS").json},
        "status": {m["name"] for m in api.get("/api/manifests?status=READY").json},
        "both": {m["name"] for m in api.get("/api/manifests?category=CHARACTERS&status=READY").json},
    }
    assert names["category"] == {"banana", "cherry", "apple", "Date", "fig", "Éclair"}
    assert names["status"] == {"Apple", "cherry", "elder", "Éclair"}
    assert names["both"] == {"cherry", "Éclair"}
    assert api.get("/api/manifests?status=PROCESSING").json == []
    assert api.get("/api/manifests?category=BRAND_KIT&status=READY").json == []


def test_a_filtered_list_follows_a_category_change(alice):
    m = alice.manifest(name="mover", category="CUSTOM")
    mid = m["manifest_id"]
    assert [x["manifest_id"] for x in alice.get("/api/manifests?category=CUSTOM").json] == [mid]
    alice.put(f"/api/manifests/{mid}", {"category": "BRAND_KIT"})
    assert alice.get("/api/manifests?category=CUSTOM").json == []
    assert [x["manifest_id"] for x in alice.get("/api/manifests?category=BRAND_KIT").json] == [mid]
    assert [x["manifest_id"] for x in alice.get("/api/manifests?category=BRAND_KIT&status=DRAFT").json] == [
        mid
    ]


# --- headers -------------------------------------------------------------------------


def test_next_headers_appear_only_while_more_remain(catalog):
    api, _ = catalog
    total = len(CATALOG)
    exact = api.get(url("/api/manifests", limit=total))
    assert len(exact.json) == total
    assert "x-next-cursor" not in exact.headers and "link" not in exact.headers
    short = api.get(url("/api/manifests", limit=total - 1))
    assert len(short.json) == total - 1
    cursor = short.headers["x-next-cursor"]
    assert next_link_params(short.headers["link"]) == {"limit": str(total - 1), "cursor": cursor}
    last = api.get(url("/api/manifests", limit=total - 1, cursor=cursor))
    assert last.status == 200 and len(last.json) == 1
    assert "x-next-cursor" not in last.headers and "link" not in last.headers


def test_following_the_link_header_gives_the_next_page(catalog):
    api, _ = catalog
    first = api.get(url("/api/manifests", sort_by="name", sort_order="asc", limit=4, category="CHARACTERS"))
    params = next_link_params(first.headers["link"])
    assert params["sort_by"] == "name" and params["category"] == "CHARACTERS"
    second = api.get(url("/api/manifests", **params))
    assert second.status == 200
    seen = [m["manifest_id"] for m in first.json + second.json]
    assert len(seen) == len(set(seen)) == 6


def test_without_limit_all_51_come_back_in_one_answer(make_user):
    from chalicelib.models import ManifestModel
    from chalicelib.repositories.manifests import ManifestRepository

    owner = f"user-{uuid.uuid4()}"
    api = make_user(owner)
    # 51 manifests: one through the API, 50 more copied from it through the repository
    repo = ManifestRepository()
    template = repo.get(owner, api.manifest(name="m0")["manifest_id"])
    assert template is not None
    for i in range(1, 51):
        values = dict(template.attribute_values)
        values.update(manifest_id=str(uuid.uuid4()), name=f"m{i}")
        repo.add(ManifestModel(**values))
    r = api.get("/api/manifests")  # no limit: the whole library, up to LIBRARY_CAP
    assert len(r.json) == 51 and "x-next-cursor" not in r.headers
    page = api.get(url("/api/manifests", limit=50))
    assert len(page.json) == 50 and "x-next-cursor" in page.headers
    rest = api.get(url("/api/manifests", limit=50, cursor=page.headers["x-next-cursor"]))
    assert len(rest.json) == 1 and "x-next-cursor" not in rest.headers


# --- refusals ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("sort_by=popularity", "sort_by"),
        ("sort_by=NAME", "sort_by"),
        ("sort_order=up", "sort_order"),
        ("category=MOVIES", "category"),
        ("category=characters", "category"),
        ("status=DELETED", "status"),
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("limit=-1", "limit"),
        ("limit=ten", "limit"),
        ("limit=1.5", "limit"),
        ("cursor=", "cursor"),
        ("page=2", "page"),
        ("sortBy=name", "sortBy"),
    ],
)
def test_invalid_or_unknown_query_parameters_are_refused(alice, query, field):
    r = alice.get(f"/api/manifests?{query}")
    assert r.status == 422, r.text
    assert isinstance(r.json["detail"], str)
    assert ["query", field] in [e["loc"] for e in r.json["errors"]]


def test_a_repeated_query_parameter_is_refused(alice):
    r = alice.get("/api/manifests?limit=1&limit=2")
    assert r.status == 422
    assert r.json["errors"][0]["loc"] == ["query", "limit"]


def test_limit_200_is_accepted(alice):
    assert alice.get("/api/manifests?limit=200").status == 200


def _first_cursor(api: Api, **params: Any) -> str:
    r = api.get(url("/api/manifests", limit=1, **params))
    assert r.status == 200
    return str(r.headers["x-next-cursor"])


@pytest.mark.parametrize(
    "tamper",
    [
        lambda c: c[:-2] + ("AA" if c[-2:] != "AA" else "BB"),  # signature edited
        lambda c: ("B" if c[0] != "B" else "C") + c[1:],  # payload edited
        lambda c: c.split(".")[0],  # signature dropped
        lambda c: "not-a-cursor",
        lambda c: "e30.e30",  # {} . {}
        lambda c: c + "." + c,
    ],
    ids=["signature", "payload", "unsigned", "garbage", "empty-json", "doubled"],
)
def test_a_tampered_cursor_is_refused(catalog, tamper):
    api, _ = catalog
    r = api.get(url("/api/manifests", limit=1, cursor=tamper(_first_cursor(api))))
    assert r.status == 400, r.text
    assert isinstance(r.json["detail"], str)


def test_a_forged_cursor_with_a_payload_of_our_own_is_refused(catalog):
    import base64
    import json

    api, _ = catalog
    body = base64.urlsafe_b64encode(json.dumps({"k": {}, "o": "x", "s": "y"}).encode()).decode().rstrip("=")
    signature = _first_cursor(api).split(".")[1]
    r = api.get(url("/api/manifests", limit=1, cursor=f"{body}.{signature}"))
    assert r.status == 400


def test_a_cursor_cannot_be_used_by_another_owner(catalog, bob):
    api, _ = catalog
    cursor = _first_cursor(api)
    bob.manifest()
    bob.manifest()
    r = bob.get(url("/api/manifests", limit=1, cursor=cursor))
    assert r.status == 400, r.text
    assert isinstance(r.json["detail"], str)


@pytest.mark.parametrize(
    "changed",
    [
        {"sort_by": "name"},
        {"sort_order": "asc"},
        {"category": "CHARACTERS"},
        {"status": "DRAFT"},
        {"category": "CHARACTERS", "status": "DRAFT"},
    ],
)
def test_a_cursor_is_bound_to_the_query_it_came_from(catalog, changed):
    api, _ = catalog
    cursor = _first_cursor(api)
    r = api.get(url("/api/manifests", limit=1, cursor=cursor, **changed))
    assert r.status == 400, r.text
    # and the other way round: a filtered cursor does not work unfiltered
    r = api.get(url("/api/manifests", limit=1, cursor=_first_cursor(api, **changed)))
    assert r.status == 400, r.text


def test_a_cursor_still_works_with_a_different_page_size(catalog):
    api, everything = catalog
    cursor = _first_cursor(api)
    r = api.get(url("/api/manifests", limit=200, cursor=cursor))
    assert r.status == 200
    assert [m["manifest_id"] for m in r.json] == [m["manifest_id"] for m in everything[1:]]


def test_a_projects_cursor_is_refused_by_the_manifest_list(catalog):
    api, _ = catalog
    r = api.get("/api/projects?limit=1")
    cursor = r.headers["x-next-cursor"]
    assert api.get(url("/api/manifests", limit=1, cursor=cursor)).status == 400


def test_sorted_lists_follow_renames_updates_and_count_changes(alice):
    zeta = alice.manifest(name="zeta")["manifest_id"]
    beta = alice.manifest(name="beta")["manifest_id"]
    gamma = alice.manifest(name="gamma")["manifest_id"]

    def order(**params: str) -> list[str]:
        return [m["manifest_id"] for m in alice.get(url("/api/manifests", **params)).json]

    assert order(sort_by="name", sort_order="asc") == [beta, gamma, zeta]
    alice.put(f"/api/manifests/{zeta}", {"name": "Alpha"})
    assert order(sort_by="name", sort_order="asc") == [zeta, beta, gamma]

    assert order() == [zeta, gamma, beta]  # the rename made zeta the most recently updated
    alice.put(f"/api/manifests/{beta}", {"description": "touched"})
    assert order() == [beta, zeta, gamma]
    assert order(sort_by="created_at") == [gamma, beta, zeta]

    assets = [alice.asset(gamma)["asset_id"] for _ in range(2)]
    alice.asset(beta)
    assert order(sort_by="asset_count", sort_order="desc")[:2] == [gamma, beta]
    for asset_id in assets:
        alice.delete(f"/api/assets/{asset_id}")
    assert order(sort_by="asset_count", sort_order="desc")[0] == beta
    assert order(sort_by="asset_count", sort_order="desc", category="CUSTOM")[0] == beta
