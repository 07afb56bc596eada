"""Cursor signing: round trip, and every way a cursor must be refused."""

from __future__ import annotations

import base64
import json

import pytest

from chalicelib import cursors
from chalicelib.errors import BadRequestError

KEY = {"owner_id": {"S": "alice"}, "manifest_id": {"S": "m1"}, "s_upd": {"S": "2026-01-01T00:00:00Z#m1"}}


@pytest.fixture(autouse=True)
def secret(monkeypatch):
    monkeypatch.setenv("CURSOR_SECRET", "unit-test-secret")


def test_a_cursor_round_trips_for_its_owner_and_scope():
    cursor = cursors.encode(KEY, "alice", "manifests|||name|asc")
    assert cursors.decode(cursor, "alice", "manifests|||name|asc") == KEY


def test_a_cursor_is_opaque_url_safe_text():
    cursor = cursors.encode(KEY, "alice", "s")
    assert all(ch.isalnum() or ch in "-_." for ch in cursor)


@pytest.mark.parametrize(("owner", "scope"), [("bob", "s"), ("alice", "t"), ("alice", "s|x")])
def test_a_cursor_is_refused_for_another_owner_or_query(owner, scope):
    cursor = cursors.encode(KEY, "alice", "s")
    with pytest.raises(BadRequestError):
        cursors.decode(cursor, owner, scope)


def test_a_cursor_signed_under_another_secret_is_refused(monkeypatch):
    cursor = cursors.encode(KEY, "alice", "s")
    monkeypatch.setenv("CURSOR_SECRET", "rotated")
    with pytest.raises(BadRequestError):
        cursors.decode(cursor, "alice", "s")


def _reencode(payload: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")


def test_an_edited_payload_is_refused_even_with_the_old_signature():
    cursor = cursors.encode(KEY, "alice", "s")
    _, mac = cursor.split(".")
    edited = _reencode({"k": {**KEY, "manifest_id": {"S": "m2"}}, "o": "alice", "s": "s"})
    with pytest.raises(BadRequestError):
        cursors.decode(f"{edited}.{mac}", "alice", "s")


@pytest.mark.parametrize("junk", ["", ".", "abc", "a.b.c", "@@@.###", "é.é", "e30.", ".e30"])
def test_junk_is_refused_as_a_bad_request(junk):
    with pytest.raises(BadRequestError):
        cursors.decode(junk, "alice", "s")


def test_a_signed_payload_without_a_key_is_refused():
    cursor = cursors.encode("not-a-dict", "alice", "s")  # type: ignore[arg-type]
    with pytest.raises(BadRequestError):
        cursors.decode(cursor, "alice", "s")
