"""Shared fixtures: one moto server per session, reached over HTTP.

Tests isolate themselves by owner (every test gets fresh users), so no test
needs to reset the backend.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from faults import FaultClient
from local_backend import free_port, provision, start_local_server, start_moto, stop_process

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def backend() -> Iterator[dict[str, str]]:
    server, endpoint = start_moto()
    env = provision(endpoint)
    yield env
    server.stop()


@pytest.fixture
def faults(backend: dict[str, str]) -> Iterator[FaultClient]:
    """The session moto server's fault hook (scripts/faults.py); every rule is cleared
    after the test, so a fault never outlives the test that set it."""
    client = FaultClient(backend["DYNAMODB_ENDPOINT_URL"])
    client.clear()
    refill_retry_quotas()
    yield client
    client.clear()
    refill_retry_quotas()


def refill_retry_quotas() -> None:
    """botocore's standard retry mode gives each client a retry quota that failed
    attempts drain and successes refill; once empty, botocore stops retrying. A
    test that injects faults starts (and leaves) the app's clients with a full
    quota, as a fresh Lambda container has, so no verdict depends on how many
    faults the tests before it injected. Test-only: it touches botocore's
    bookkeeping, never its behaviour."""
    from chalicelib import idempotency, models
    from chalicelib.repositories import base
    from chalicelib.storage import storage

    idempotency._persistence.cache_clear()  # its client is rebuilt, full, on next use
    clients = [storage()._client, base._connection.client if base._connection else None]
    clients += [m._connection.connection.client for m in models.ALL_MODELS if m._connection is not None]
    for client in filter(None, clients):
        handlers = client.meta.events._emitter._unique_id_handlers
        (entry,) = [e for uid, e in handlers.items() if uid.startswith("retry-config-")]
        quota = entry["handler"].__self__._retry_quota._quota
        quota._available_capacity = quota._max_capacity


@pytest.fixture(scope="session")
def jwt_secret(backend: dict[str, str]) -> str:
    return backend["JWT_SECRET"]


def token_for(sub: str, secret: str) -> str:
    from chalicelib.auth import mint_dev_token

    return mint_dev_token(sub, secret)


class Api:
    """A user of the API through `chalice.test.Client`: JSON in, JSON out."""

    def __init__(self, client: Any, token: str | None) -> None:
        self._client = client
        self.token = token

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        headers.update(extra or {})
        return headers

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> Response:
        data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
        r = self._client.http.request(method, path, headers=self.headers(headers), body=data)
        return Response(r.status_code, dict(r.headers), r.body)

    def get(self, path: str, **kw: Any) -> Response:
        return self.call("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> Response:
        return self.call("POST", path, body, **kw)

    def put(self, path: str, body: Any = None, **kw: Any) -> Response:
        return self.call("PUT", path, body, **kw)

    def delete(self, path: str, **kw: Any) -> Response:
        return self.call("DELETE", path, **kw)

    # conveniences for setting up state
    def manifest(self, **fields: Any) -> dict[str, Any]:
        r = self.post("/api/manifests", {"name": "Kit", **fields})
        assert r.status == 201, r.text
        return r.json

    def asset(self, manifest_id: str, **fields: Any) -> dict[str, Any]:
        r = self.post(
            f"/api/manifests/{manifest_id}/assets", {"name": "Hero", "asset_type": "CHARACTER", **fields}
        )
        assert r.status == 201, r.text
        return r.json

    def project(self, **fields: Any) -> dict[str, Any]:
        r = self.post("/api/projects", fields)
        assert r.status == 201, r.text
        return r.json


class Response:
    def __init__(self, status: int, headers: dict[str, str], body: bytes | str) -> None:
        self.status = status
        self.headers = {k.lower(): v for k, v in headers.items()}
        self.text = body.decode() if isinstance(body, bytes) else (body or "")

    @property
    def json(self) -> Any:
        return json.loads(self.text)

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.text[:300]}>"


@pytest.fixture(scope="session")
def chalice_client(backend: dict[str, str]) -> Any:
    from chalice.test import Client

    from app import app

    with Client(app, stage_name="local", project_dir=str(ROOT)) as client:
        yield client


@pytest.fixture
def make_user(chalice_client: Any, jwt_secret: str) -> Any:
    def make(name: str | None = None) -> Api:
        return Api(chalice_client, token_for(name or f"user-{uuid.uuid4()}", jwt_secret))

    return make


@pytest.fixture
def alice(make_user: Any) -> Api:
    return make_user()


@pytest.fixture
def owner() -> str:
    """A fresh owner id the test knows, to read and write that user's items directly."""
    return f"user-{uuid.uuid4()}"


@pytest.fixture
def carol(make_user: Any, owner: str) -> Api:
    """The user whose owner id is `owner`."""
    return make_user(owner)


@pytest.fixture
def bob(make_user: Any) -> Api:
    return make_user()


@pytest.fixture
def anonymous(chalice_client: Any) -> Api:
    return Api(chalice_client, None)


# --- the real local server, for end-to-end and concurrency tests ----------------


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="session")
def page_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A static web server on another origin than the API (the browser test's page)."""
    root = tmp_path_factory.mktemp("site")
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", root
    server.shutdown()


@pytest.fixture(scope="session")
def local_server(backend: dict[str, str], page_site: tuple[str, Path]) -> Iterator[str]:
    """`chalice local` as a subprocess against the session's moto server.

    The browser test's page origin is allowed through CORS_EXTRA_ORIGINS, as a
    developer would allow their own dev origin; the bucket's CORS rules get it too."""
    from chalicelib import provisioning

    os.environ["CORS_EXTRA_ORIGINS"] = page_site[0]
    provisioning.ensure_bucket()
    log = tempfile.TemporaryFile()  # noqa: SIM115 (closed after the server stops)
    env = {**os.environ, **backend, "CORS_EXTRA_ORIGINS": page_site[0]}
    proc, base = start_local_server(env, free_port(), log)
    yield base
    stop_process(proc)
    log.close()
