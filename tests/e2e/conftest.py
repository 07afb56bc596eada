"""HTTP users of the real local server (`chalice local` as a subprocess), and a
way to send many requests at the same moment.

Concurrent callers never share a connection or any client-side state, so
whatever they see of each other comes from the server.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from tests.conftest import token_for

TIMEOUT = 30


class HttpUser:
    """One owner talking to the local server over HTTP with a bearer token."""

    def __init__(self, base: str, token: str | None) -> None:
        self.base = base
        self.token = token

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        session: requests.Session | None = None,
        **kw: Any,
    ) -> requests.Response:
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        headers.update(kw.pop("headers", {}))
        send = session.request if session is not None else requests.request
        return send(method, self.base + path, json=body, headers=headers, timeout=TIMEOUT, **kw)

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> requests.Response:
        return self.request("POST", path, body, **kw)

    def put(self, path: str, body: Any = None, **kw: Any) -> requests.Response:
        return self.request("PUT", path, body, **kw)

    def delete(self, path: str, **kw: Any) -> requests.Response:
        return self.request("DELETE", path, **kw)

    def call(self, method: str, path: str, body: Any = None, delay: float = 0.0) -> Call:
        return Call(self, method, path, body, delay)

    def manifest(self, **fields: Any) -> dict[str, Any]:
        r = self.post("/api/manifests", {"name": "Kit", **fields})
        assert r.status_code == 201, r.text
        return dict(r.json())

    def asset(self, manifest_id: str, **fields: Any) -> dict[str, Any]:
        r = self.post(
            f"/api/manifests/{manifest_id}/assets", {"name": "Hero", "asset_type": "CHARACTER", **fields}
        )
        assert r.status_code == 201, r.text
        return dict(r.json())

    def project(self, **fields: Any) -> dict[str, Any]:
        r = self.post("/api/projects", fields)
        assert r.status_code == 201, r.text
        return dict(r.json())


@pytest.fixture
def http_user(local_server: str, jwt_secret: str) -> Callable[[], HttpUser]:
    def make() -> HttpUser:
        return HttpUser(local_server, token_for(f"e2e-{uuid.uuid4()}", jwt_secret))

    return make


@dataclass(frozen=True)
class Call:
    """One request, to be sent later on a given session, `delay` seconds after the start."""

    user: HttpUser
    method: str
    path: str
    body: Any = None
    delay: float = 0.0

    def __call__(self, session: requests.Session) -> requests.Response:
        if self.delay:
            time.sleep(self.delay)
        return self.user.request(self.method, self.path, self.body, session=session)


def all_at_once(calls: Iterable[Call]) -> list[requests.Response | Exception]:
    """Run every call on its own thread and fresh connection, released together
    by a barrier, and return their results in order (an exception is returned,
    not raised).

    The connections open after the barrier, at the same instant: the local
    server's listen backlog holds such a burst (scripts/chalice_local.py,
    tests/e2e/test_listen_backlog.py), so no call needs a connection opened
    beforehand.
    """
    calls = list(calls)
    barrier = threading.Barrier(len(calls))

    def run(call: Call) -> requests.Response | Exception:
        with requests.Session() as session:
            barrier.wait(timeout=TIMEOUT)
            try:
                return call(session)
            except Exception as exc:  # surfaced to the test through the result
                return exc

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))
