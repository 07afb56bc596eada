"""X-Request-Id on every answer and in the access log, human docs at /api/docs,
and an OpenAPI document with tags, servers and a description (issue 9, point 7)."""

from __future__ import annotations

import json
import re
import uuid

import pytest

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def access_lines(out: str) -> list[dict]:
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return [e for e in lines if e.get("logger") == "vidpipe.access"]


def test_a_sane_request_id_comes_back_and_is_logged(alice, capsys):
    capsys.readouterr()
    sent = f"web-{uuid.uuid4().hex}.retry_1"
    r = alice.get("/api/manifests", headers={"X-Request-Id": sent})
    assert r.status == 200
    assert r.headers["x-request-id"] == sent
    (line,) = access_lines(capsys.readouterr().out)
    assert line["request_id"] == sent


@pytest.mark.parametrize(
    "insane",
    ["x" * 129, "has space", "new\\nline", 'quote"d', "ünïcode", "semi;colon", "a/b"],
)
def test_an_insane_request_id_is_replaced_by_a_generated_one(alice, capsys, insane):
    capsys.readouterr()
    r = alice.get("/api/manifests", headers={"X-Request-Id": insane})
    answered = r.headers["x-request-id"]
    assert answered != insane and UUID.match(answered)
    out = capsys.readouterr().out
    assert insane not in out
    assert access_lines(out)[0]["request_id"] == answered


def test_every_answer_carries_a_request_id_and_each_is_new(alice, anonymous):
    mid = alice.manifest()["manifest_id"]
    answers = [
        alice.get(f"/api/manifests/{mid}"),  # 200
        alice.post("/api/manifests", {"category": "NOPE"}),  # 422
        anonymous.get("/api/manifests"),  # 401
        alice.get(f"/api/manifests/{uuid.uuid4()}"),  # 404
        alice.get("/api/metrics"),  # unknown route
        alice.call("POST", f"/api/manifests/{mid}"),  # 405
        anonymous.get("/api/docs"),
        anonymous.get("/api/health"),
    ]
    ids = [r.headers.get("x-request-id") for r in answers]
    assert all(i and UUID.match(i) for i in ids), list(zip([r.status for r in answers], ids, strict=True))
    assert len(set(ids)) == len(ids)


def test_browsers_may_read_the_request_id(alice):
    r = alice.get("/api/manifests", headers={"Origin": "http://localhost:5173"})
    assert "X-Request-Id" in r.headers["access-control-expose-headers"]


# --- docs -------------------------------------------------------------------------------


def test_the_docs_page_is_swagger_ui_over_our_document_with_local_assets(anonymous):
    r = anonymous.get("/api/docs")
    assert r.status == 200
    assert r.headers["content-type"].startswith("text/html")
    assert 'url: "openapi.json"' in r.text
    sources = re.findall(r'(?:src|href)="([^"]+)"', r.text)
    assert sources == ["docs/swagger-ui.css", "docs/swagger-ui-bundle.js"]
    assert not [s for s in sources if "//" in s], "no CDN: the page works offline"


@pytest.mark.parametrize(
    ("name", "content_type", "marker"),
    [
        ("swagger-ui-bundle.js", "application/javascript", "SwaggerUIBundle"),
        ("swagger-ui.css", "text/css", ".swagger-ui"),
    ],
)
def test_the_docs_assets_are_served_from_the_package(anonymous, name, content_type, marker):
    r = anonymous.get(f"/api/docs/{name}")
    assert r.status == 200
    assert r.headers["content-type"].startswith(content_type)
    assert marker in r.text
    assert r.headers["cache-control"] == "public, max-age=86400"


def test_only_the_pages_files_are_served(anonymous):
    for name in ("swagger-ui-bundle.js.map", "index.j2", "..%2F__init__.py"):
        r = anonymous.get(f"/api/docs/{name}")
        assert (r.status, r.json) == (404, {"detail": "Not Found"})


# --- OpenAPI ----------------------------------------------------------------------------


def test_the_document_has_a_description_servers_and_tags(anonymous):
    doc = anonymous.get("/api/openapi.json").json
    assert "X-Request-Id" in doc["info"]["description"]
    assert "/api/docs" in doc["info"]["description"]
    assert doc["servers"] == [{"url": "..", "description": "The deployment that served this document"}]
    names = [t["name"] for t in doc["tags"]]
    assert names == ["manifests", "assets", "uploads", "versions", "projects", "system"]
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert len(op["tags"]) == 1 and op["tags"][0] in names, (method, path)
    assert doc["paths"]["/api/assets/{asset_id}/upload-url"]["post"]["tags"] == ["uploads"]
    assert doc["paths"]["/api/manifests"]["get"]["tags"] == ["manifests"]
    assert doc["paths"]["/api/projects/{project_id}/manifest"]["get"]["tags"] == ["versions"]
    assert "/api/docs" not in doc["paths"]


def test_the_document_promises_the_request_id_and_the_406_where_they_can_occur(anonymous):
    doc = anonymous.get("/api/openapi.json").json
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            for status, response in op["responses"].items():
                assert response["headers"]["X-Request-Id"]["required"] is True, (method, path, status)
    assert "406" in doc["paths"]["/api/manifests/{manifest_id}"]["get"]["responses"]
    assert "406" in doc["paths"]["/api/manifests"]["get"]["responses"]
    assert "406" not in doc["paths"]["/api/manifests"]["post"]["responses"]
