"""Security headers and the CORS allow-list, through the real local server.

`requests` against `chalice local`, because the chalice test client cannot send
OPTIONS (and a browser's view of CORS is about real HTTP answers). The local stage
allows the web app's two dev origins (CORS_ALLOW_ORIGINS) plus the browser test's
page origin (CORS_EXTRA_ORIGINS): three allowed origins from two settings.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests

TIMEOUT = 30
DEV_ORIGINS = ("http://localhost:5173", "http://127.0.0.1:5173")
FOREIGN_ORIGINS = (
    "https://evil.example",
    "null",
    "http://localhost:5173.evil.example",  # an allowed origin as a prefix
    "http://localhost:5174",
    "https://localhost:5173",  # other scheme
    "http://LOCALHOST:5173x",
)


REQUESTED_HEADERS = "authorization,content-type,if-match,idempotency-key"


@pytest.fixture(scope="module")
def allowed_origins(page_site: tuple[str, Path]) -> tuple[str, ...]:
    return (*DEV_ORIGINS, page_site[0])


@pytest.fixture(scope="module")
def token(jwt_secret: str) -> str:
    from tests.conftest import token_for

    return token_for(f"headers-{uuid.uuid4()}", jwt_secret)


@pytest.fixture(scope="module")
def document(local_server: str) -> dict[str, Any]:
    doc: dict[str, Any] = requests.get(f"{local_server}/api/openapi.json", timeout=TIMEOUT).json()
    return doc


def call(base: str, method: str, path: str, token: str | None = None, **kw: Any) -> requests.Response:
    headers = dict(kw.pop("headers", {}))
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return requests.request(method, base + path, headers=headers, timeout=TIMEOUT, **kw)


def json_answers(base: str, token: str) -> dict[str, requests.Response]:
    """One answer of each kind a client gets: success, created, and each error shape."""
    created = call(base, "POST", "/api/manifests", token, json={"name": "Headers"})
    return {
        "201 created": created,
        "200 list": call(base, "GET", "/api/manifests", token),
        "200 detail": call(base, "GET", f"/api/manifests/{created.json()['manifest_id']}", token),
        "200 health": call(base, "GET", "/api/health"),
        "200 openapi": call(base, "GET", "/api/openapi.json"),
        "401 no token": call(base, "GET", "/api/manifests"),
        "401 bad token": call(base, "GET", "/api/manifests", "not.a.token"),
        "404 unknown id": call(base, "GET", f"/api/manifests/{uuid.uuid4()}", token),
        "400 bad json": call(
            base, "POST", "/api/manifests", token, data=b"{", headers={"Content-Type": "application/json"}
        ),
        "405 method": call(base, "PATCH", "/api/manifests", token),
        "415 media type": call(
            base, "POST", "/api/manifests", token, data=b"x", headers={"Content-Type": "text/plain"}
        ),
        "422 invalid": call(base, "POST", "/api/manifests", token, json={"name": ""}),
    }


def test_every_json_answer_says_nosniff_and_no_store(local_server: str, token: str) -> None:
    for label, r in json_answers(local_server, token).items():
        assert r.headers["Content-Type"].startswith("application/json"), label
        assert r.headers.get("X-Content-Type-Options") == "nosniff", label
        assert r.headers.get("Cache-Control") == "no-store", label
        assert "Traceback" not in r.text, label


def test_each_allowed_origin_is_echoed_alone_with_vary_origin(
    local_server: str, token: str, allowed_origins: tuple[str, ...]
) -> None:
    assert len(allowed_origins) >= 3
    for origin in allowed_origins:
        r = call(local_server, "GET", "/api/manifests", token, headers={"Origin": origin})
        assert r.status_code == 200
        assert r.headers.get("Access-Control-Allow-Origin") == origin
        assert "Origin" in [v.strip() for v in r.headers.get("Vary", "").split(",")]
        exposed = {h.strip().lower() for h in r.headers["Access-Control-Expose-Headers"].split(",")}
        assert {"x-next-cursor", "link", "etag"} <= exposed
        assert "Access-Control-Allow-Credentials" not in r.headers, "bearer tokens need no cookies"


@pytest.mark.parametrize("origin", FOREIGN_ORIGINS)
def test_an_origin_off_the_list_gets_no_cors_grant(local_server: str, token: str, origin: str) -> None:
    r = call(local_server, "GET", "/api/manifests", token, headers={"Origin": origin})
    assert r.status_code == 200  # the API answers; the browser withholds it from the page
    assert "Access-Control-Allow-Origin" not in r.headers
    assert "Access-Control-Expose-Headers" not in r.headers
    preflight = call(
        local_server,
        "OPTIONS",
        "/api/manifests",
        headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
    )
    assert "Access-Control-Allow-Origin" not in preflight.headers


def test_preflights_of_every_documented_operation_are_granted_to_allowed_origins(
    local_server: str, document: dict[str, Any], allowed_origins: tuple[str, ...]
) -> None:
    checked = 0
    for path, item in document["paths"].items():
        concrete = re.sub(r"{\w+}", str(uuid.uuid4()), path)
        for method in item:
            for origin in allowed_origins:
                r = call(
                    local_server,
                    "OPTIONS",
                    concrete,
                    headers={
                        "Origin": origin,
                        "Access-Control-Request-Method": method.upper(),
                        "Access-Control-Request-Headers": REQUESTED_HEADERS,
                    },
                )
                assert 200 <= r.status_code < 300, (path, r.status_code, r.text)
                assert r.headers.get("Access-Control-Allow-Origin") == origin, path
                methods = {m.strip() for m in r.headers["Access-Control-Allow-Methods"].split(",")}
                assert method.upper() in methods, (path, methods)
                allowed = {h.strip().lower() for h in r.headers["Access-Control-Allow-Headers"].split(",")}
                assert {"authorization", "content-type", "if-match", "idempotency-key"} <= allowed
                checked += 1
    assert checked >= 25 * len(allowed_origins)


def test_a_401_carries_cors_headers_so_the_page_can_read_it(
    local_server: str, allowed_origins: tuple[str, ...]
) -> None:
    for origin in allowed_origins:
        for token in (None, "expired.or.forged"):
            r = call(local_server, "GET", "/api/projects", token, headers={"Origin": origin})
            assert r.status_code == 401
            assert r.headers.get("Access-Control-Allow-Origin") == origin
            assert r.headers.get("WWW-Authenticate", "").startswith("Bearer")
            assert r.json()["detail"]


def test_error_answers_carry_cors_headers_for_allowed_origins(local_server: str, token: str) -> None:
    origin = DEV_ORIGINS[0]
    for method, path, kw in (
        ("GET", f"/api/manifests/{uuid.uuid4()}", {}),
        ("POST", "/api/manifests", {"json": {"name": ""}}),
        ("POST", "/api/manifests", {"data": b"{"}),
    ):
        r = call(local_server, method, path, token, headers={"Origin": origin}, **kw)
        assert r.status_code >= 400
        assert r.headers.get("Access-Control-Allow-Origin") == origin, (method, path, r.status_code)
