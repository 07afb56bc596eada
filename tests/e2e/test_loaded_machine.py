"""The suite and the local server on a loaded machine: readiness probes wait out
slow answers, a slow backend makes requests slow but not failed, and stopping
`make run` (scripts/run_local.py) with SIGTERM is prompt and frees both ports."""

from __future__ import annotations

import contextlib
import http.server
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from faults import FaultClient
from local_backend import free_port, wait_until_healthy

from tests.conftest import ROOT, token_for
from tests.e2e.conftest import HttpUser

pytestmark = pytest.mark.e2e


class _SlowFirstAnswer(http.server.BaseHTTPRequestHandler):
    """Answers 200, the first request only after `delay` seconds (a busy server)."""

    delay = 0.0
    answered = 0
    lock = threading.Lock()

    def do_GET(self) -> None:
        with self.lock:
            first = type(self).answered == 0
            type(self).answered += 1
        if first:
            time.sleep(self.delay)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def slow_first_answer() -> Iterator[str]:
    handler = type("Handler", (_SlowFirstAnswer,), {"delay": 1.5, "answered": 0})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/health"
    server.shutdown()
    server.server_close()


def test_the_readiness_probe_waits_out_an_answer_slower_than_its_timeout(slow_first_answer):
    wait_until_healthy(slow_first_answer, probe_timeout=0.5, deadline=60)


def test_a_backend_slower_than_the_aws_read_timeout_slows_requests_but_fails_none(
    local_server, jwt_secret, faults
):
    """A queued DynamoDB call on a loaded machine takes seconds. The AWS stages give up
    after 4 s (API Gateway's budget); the local stage waits, so every call here is held
    5 s and still the request succeeds, and the harness's client waits for it."""
    owner = f"e2e-slow-{uuid.uuid4()}"
    user = HttpUser(local_server, token_for(owner, jwt_secret))
    created = user.manifest(name="Slow kit")
    rule = faults.inject(service="dynamodb", match=owner, fault="latency", delay=5, times=None)

    started = time.monotonic()
    r = user.get("/api/manifests")
    elapsed = time.monotonic() - started

    assert r.status_code == 200, r.text
    assert [m["manifest_id"] for m in r.json()] == [created["manifest_id"]]
    assert faults.hits(rule) >= 1
    assert elapsed >= 5


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers bind
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def test_sigterm_stops_make_run_promptly_and_frees_both_ports():
    port, moto_port = free_port(), free_port()
    log = tempfile.TemporaryFile()  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(
        [sys.executable, str(Path(ROOT) / "scripts" / "run_local.py")],
        cwd=ROOT,
        env={**os.environ, "PORT": str(port), "MOTO_PORT": str(moto_port)},
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}/api/health", alive=lambda: proc.poll() is None)
        # A browser's idle keep-alive connection, and a request still in flight.
        idle = requests.Session()
        assert idle.get(f"http://127.0.0.1:{port}/api/health", timeout=60).status_code == 200
        FaultClient(f"http://127.0.0.1:{moto_port}").inject(fault="latency", delay=30, times=None)
        in_flight = threading.Thread(
            target=_swallow, args=(f"http://127.0.0.1:{port}/api/health",), daemon=True
        )
        in_flight.start()
        time.sleep(0.5)  # not a synchronisation: the test holds whether or not it was sent yet

        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
        stopped_in = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.seek(0)
        output = log.read().decode(errors="replace")[-2000:]
        log.close()

    assert code == 0, output
    assert stopped_in < 2.5, f"took {stopped_in:.1f} s to stop"
    assert not _listening(port) and not _listening(moto_port)
    assert _bindable(port) and _bindable(moto_port)


def _swallow(url: str) -> None:
    with contextlib.suppress(requests.RequestException):
        requests.get(url, timeout=60)
