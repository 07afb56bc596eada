"""`detail` names each bad field and what is wrong with it (issue 9, point 4):
the web app shows only `detail`. `errors[]` stays for programs."""

from __future__ import annotations

CATEGORIES = "CHARACTERS, ENVIRONMENT, FULL_PRODUCTION, STYLE_KIT, BRAND_KIT, CUSTOM"


def test_a_bad_category_names_the_field_and_the_allowed_values(alice):
    r = alice.post("/api/manifests", {"name": "Cast", "category": "ACTORS"})
    assert r.status == 422
    assert r.json["detail"] == f"category: must be one of {CATEGORIES}"
    assert r.json["errors"][0]["loc"] == ["body", "category"]


def test_several_bad_fields_are_joined_with_semicolons(alice):
    r = alice.post("/api/manifests", {"name": "", "category": "ACTORS", "nmae": "typo"})
    assert r.status == 422
    assert r.json["detail"] == (
        f"name: must not be empty; category: must be one of {CATEGORIES}; nmae: is not a known field"
    )
    assert [e["loc"] for e in r.json["errors"]] == [["body", "name"], ["body", "category"], ["body", "nmae"]]


def test_a_missing_field_and_a_too_long_one_say_so(alice):
    mid = alice.manifest()["manifest_id"]
    r = alice.post(f"/api/manifests/{mid}/assets", {"asset_type": "PROP", "description": "x" * 2001})
    assert r.status == 422
    assert r.json["detail"] == "name: is required; description: must be at most 2000 characters"


def test_a_list_item_is_named_by_its_position(alice):
    r = alice.post("/api/manifests", {"name": "Cast", "tags": ["ok", "x" * 51]})
    assert r.json["detail"] == "tags[1]: must be at most 50 characters"


def test_query_parameters_are_named_too(alice):
    r = alice.get("/api/manifests?sort_by=colour&limit=0")
    assert r.status == 422
    assert r.json["detail"] == (
        "sort_by: must be one of updated_at, created_at, name, times_used, asset_count; limit: must be >= 1"
    )
    assert alice.get("/api/manifests?limit=1&limit=2").json["detail"] == "limit: given more than once"


def test_a_body_that_is_not_an_object_says_so(alice):
    r = alice.call("POST", "/api/manifests", raw=b"[]")
    assert r.json["detail"] == "body: must be a JSON object"


def test_the_detail_never_echoes_the_input(alice):
    secret = "s3cr3t-value-that-must-not-come-back"
    r = alice.post("/api/manifests", {"name": "Cast", "category": secret, "tags": [secret * 3]})
    assert r.status == 422
    assert secret not in r.text
