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
    """Run every call on its own thread and connection, released together, and
    return their results in order (an exception is returned, not raised).

    `chalice local` listens with Python's default backlog of 5, so 20 connects
    at the same instant can be reset by the kernel before the server sees them.
    Each call therefore gets a keep-alive session whose connection is opened
    beforehand, one at a time, with a cheap request (an unknown route: the
    404 catch-all, no AWS call); when the barrier releases, every
    request goes out on an already accepted connection, so all of them reach
    the server together.
    """
    calls = list(calls)
    base = calls[0].user.base
    sessions = []
    for _ in calls:
        session = requests.Session()
        assert session.get(f"{base}/api/__connect__", timeout=TIMEOUT).status_code == 404
        sessions.append(session)
    barrier = threading.Barrier(len(calls))

    def run(call: Call, session: requests.Session) -> requests.Response | Exception:
        barrier.wait(timeout=TIMEOUT)
        try:
            return call(session)
        except Exception as exc:  # surfaced to the test through the result
            return exc

    try:
        with ThreadPoolExecutor(max_workers=len(calls)) as pool:
            return list(pool.map(run, calls, sessions))
    finally:
        for session in sessions:
            session.close()
