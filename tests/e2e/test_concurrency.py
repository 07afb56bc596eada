"""Invariants under concurrency, through the real (threaded) local server.

Each test releases its requests together (a barrier) so they really overlap in
the server, and each checks an invariant that only a DynamoDB condition or
transaction keeps: with a read-then-write in its place the numbers drift.
"""

from __future__ import annotations

import pytest

from tests.e2e.conftest import HttpUser, all_at_once

pytestmark = pytest.mark.e2e

MIXED_ROUNDS = 3
MIXED_OPS = 10
# The delete is sent 0, 2, 4 ... ms after the attaches, so over the rounds it
# lands before, between and after their reads and writes.
RACE_DELETE_DELAYS = [i * 0.002 for i in range(12)]


def _ok(answer, *codes):
    assert not isinstance(answer, Exception), answer
    assert answer.status_code in codes, answer.text
    return answer


def test_twenty_concurrent_asset_creates_get_twenty_distinct_tags_and_an_exact_count(http_user):
    user = http_user()
    mid = user.manifest()["manifest_id"]

    answers = all_at_once(
        user.call("POST", f"/api/manifests/{mid}/assets", {"name": f"A{i}", "asset_type": "CHARACTER"})
        for i in range(20)
    )

    tags = [_ok(a, 201).json()["manifest_tag"] for a in answers]
    assert len(set(tags)) == 20, sorted(tags)
    assert sorted(tags) == [f"CHAR_{n:02d}" for n in range(1, 21)]
    listed = user.get(f"/api/manifests/{mid}/assets").json()
    assert len(listed) == 20
    assert user.get(f"/api/manifests/{mid}").json()["asset_count"] == 20


def test_asset_count_equals_the_assets_left_after_concurrent_creates_and_deletes(http_user):
    user = http_user()
    for _round in range(MIXED_ROUNDS):
        mid = user.manifest()["manifest_id"]
        doomed = [user.asset(mid, name=f"Old {i}")["asset_id"] for i in range(MIXED_OPS)]

        # every old asset is deleted twice at once (only one delete may count),
        # while as many new assets are created on the same manifest
        calls = [user.call("DELETE", f"/api/assets/{aid}") for aid in doomed for _twice in range(2)]
        calls += [
            user.call("POST", f"/api/manifests/{mid}/assets", {"name": f"New {i}", "asset_type": "PROP"})
            for i in range(MIXED_OPS)
        ]
        answers = all_at_once(calls)

        deletes, creates = answers[: 2 * MIXED_OPS], answers[2 * MIXED_OPS :]
        for aid, pair in zip(doomed, zip(deletes[::2], deletes[1::2], strict=True), strict=True):
            codes = sorted(_ok(a, 200, 404).status_code for a in pair)
            assert codes == [200, 404], (aid, [a.text for a in pair])
        created = [_ok(a, 201).json()["asset_id"] for a in creates]

        listed = [a["asset_id"] for a in user.get(f"/api/manifests/{mid}/assets").json()]
        assert sorted(listed) == sorted(created)
        assert user.get(f"/api/manifests/{mid}").json()["asset_count"] == len(listed) == MIXED_OPS


def _references(user: HttpUser, mid: str, project_ids: list[str]) -> list[str]:
    """The projects (among `project_ids`) whose record points at `mid`."""
    refs = []
    for pid in project_ids:
        r = user.get(f"/api/projects/{pid}")
        if r.status_code == 200 and r.json()["manifest_id"] == mid:
            refs.append(pid)
    return refs


def test_a_manifest_never_ends_up_deleted_while_a_project_references_it(http_user):
    """DELETE /manifests/{id} races with project creates and project moves onto
    it. Whoever wins, the end state is consistent: deleted and unreferenced, or
    live with every referencing project counted (a second DELETE reports them)."""
    user = http_user()
    outcomes = []
    for delay in RACE_DELETE_DELAYS:
        mid = user.manifest(name="Contested")["manifest_id"]
        home = user.manifest(name="Home")["manifest_id"]
        movers = [user.project(title="mover", manifest_id=home)["project_id"] for _ in range(2)]

        calls = [user.call("DELETE", f"/api/manifests/{mid}", delay=delay)]
        calls += [user.call("POST", "/api/projects", {"title": "new", "manifest_id": mid})] * 3
        calls += [user.call("PUT", f"/api/projects/{pid}", {"manifest_id": mid}) for pid in movers]
        answers = all_at_once(calls)

        delete, creates, moves = answers[0], answers[1:4], answers[4:]
        _ok(delete, 200, 409)
        created = [_ok(a, 201, 404).json().get("project_id") for a in creates]
        created = [pid for pid in created if pid]
        for a in moves:
            _ok(a, 200, 404)
        refs = _references(user, mid, created + movers)

        if user.get(f"/api/manifests/{mid}").status_code == 404:
            outcomes.append("deleted")
            assert delete.status_code == 200
            assert refs == [], f"manifest deleted while projects {refs} reference it"
            # every failed move left its project where it was, still counted there
            assert _references(user, home, movers) == movers
            kept = user.delete(f"/api/manifests/{home}")
            assert kept.status_code == 409, kept.text
            assert kept.json()["project_count"] == len(movers)
        else:
            outcomes.append(f"live:{len(refs)}")
            assert delete.status_code == 409
            assert refs, "the delete was refused although nothing references the manifest"
            again = user.delete(f"/api/manifests/{mid}")
            assert again.status_code == 409, again.text
            assert again.json()["project_count"] == len(refs)
            assert sorted(again.json()["project_ids"]) == sorted(refs)
            # releasing every reference makes the manifest deletable
            for pid in refs:
                _ok(user.put(f"/api/projects/{pid}", {"manifest_id": None}), 200)
            _ok(user.delete(f"/api/manifests/{mid}"), 200)
    print(f"race outcomes by delete delay: {outcomes}")


def test_times_used_counts_every_concurrent_attach(http_user):
    user = http_user()
    mid = user.manifest()["manifest_id"]
    elsewhere = user.manifest()["manifest_id"]
    movers = [user.project(title="mover", manifest_id=elsewhere)["project_id"] for _ in range(4)]
    loose = [user.project(title="loose")["project_id"] for _ in range(4)]

    calls = [user.call("POST", "/api/projects", {"title": "new", "manifest_id": mid})] * 8
    calls += [user.call("PUT", f"/api/projects/{pid}", {"manifest_id": mid}) for pid in movers + loose]
    answers = all_at_once(calls)

    for a in answers[:8]:
        _ok(a, 201)
    for a in answers[8:]:
        _ok(a, 200)
    manifest = user.get(f"/api/manifests/{mid}").json()
    assert manifest["times_used"] == 16
    assert manifest["last_used_at"] is not None
    # the moves released their old manifest: it is deletable again
    assert user.delete(f"/api/manifests/{elsewhere}").status_code == 200
    # and all 16 references are counted on the target
    r = user.delete(f"/api/manifests/{mid}")
    assert r.status_code == 409
    assert r.json()["project_count"] == 16
