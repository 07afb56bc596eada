"""A failing dependency: the 5xx body names the request id that the header and
the access log line carry, so a user's report leads to the log (issue 9, point 7).

`chalice local` runs against DynamoDB and S3 endpoints where nothing listens: a
real failure, not a mocked one."""

from __future__ import annotations

import json
import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from local_backend import free_port, start_local_server, stop_process

from tests.conftest import token_for

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def broken_server(backend: dict[str, str]) -> Iterator[tuple[str, Path]]:
    dead = f"http://127.0.0.1:{free_port()}"  # released at once: nothing listens there
    log_path = Path(tempfile.mkdtemp()) / "stdout.log"
    env = {**os.environ, **backend, "DYNAMODB_ENDPOINT_URL": dead, "S3_ENDPOINT_URL": dead}
    with log_path.open("w+b") as log:  # readable: a failed start reports its tail
        # the docs page, not the health check: that one fails with its backends
        proc, base = start_local_server(env, free_port(), log, log_stdout=True, ready_path="/api/docs")
        yield base, log_path
        stop_process(proc)


def logged(log_path: Path, request_id: str) -> list[dict]:
    """The access-log lines naming `request_id` (the server writes them to stdout)."""
    deadline = time.monotonic() + 10  # the line is written before the answer; allow for buffering
    while True:
        lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
        found = [
            e for e in lines if e.get("logger") == "vidpipe.access" and e.get("request_id") == request_id
        ]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


@pytest.mark.parametrize("path", ["/api/health", "/api/manifests"])
def test_a_5xx_body_names_the_request_id_that_the_header_and_the_log_carry(broken_server, jwt_secret, path):
    base, log_path = broken_server
    sent = f"support-{uuid.uuid4().hex}"
    headers = {"Authorization": f"Bearer {token_for('user-' + sent, jwt_secret)}", "X-Request-Id": sent}
    r = requests.get(base + path, headers=headers, timeout=60)
    assert r.status_code >= 500, r.text
    assert r.headers["X-Request-Id"] == sent
    body = r.json()
    assert body["request_id"] == sent
    assert isinstance(body["detail"], str) and "Traceback" not in r.text
    (line,) = logged(log_path, sent)
    assert line["status"] == r.status_code


def test_a_generated_request_id_reaches_the_5xx_body_and_the_log(broken_server):
    base, log_path = broken_server
    r = requests.get(f"{base}/api/health", timeout=60)
    assert r.status_code == 503
    generated = r.headers["X-Request-Id"]
    assert r.json()["request_id"] == generated
    assert len(logged(log_path, generated)) == 1
