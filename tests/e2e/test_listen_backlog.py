"""`chalice local` (scripts/chalice_local.py) keeps a burst of fresh connections
instead of resetting them: the listen backlog holds every connection the server
has not accepted yet."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator

import pytest
from local_backend import free_port, start_local_server, stop_process

pytestmark = pytest.mark.e2e

BURST = 40


@pytest.fixture
def own_local_server(backend: dict[str, str]) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """A server of its own: this test pauses it, which must not stall the session's."""
    port = free_port()
    with tempfile.TemporaryFile() as log:
        proc, _ = start_local_server({**os.environ, **backend}, port, log)
        try:
            yield proc, port
        finally:
            proc.send_signal(signal.SIGCONT)  # a stopped process would not act on SIGTERM
            stop_process(proc)


def _connect_all(port: int, count: int, within: float) -> tuple[list[socket.socket], int]:
    """Open `count` connections at once; returns them and how many completed
    their handshake within `within` seconds."""
    sockets = []
    for _ in range(count):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        sockets.append(s)
    pending = set(sockets)
    deadline = time.monotonic() + within
    while pending and time.monotonic() < deadline:
        _, writable, _ = select.select([], list(pending), [], max(0.0, deadline - time.monotonic()))
        pending -= set(writable)
    connected = sum(
        1 for s in sockets if s not in pending and s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
    )
    return sockets, connected


def _read_status(s: socket.socket) -> bytes:
    s.setblocking(True)
    s.settimeout(30)
    try:
        return s.recv(64).split(b"\r\n", 1)[0]
    except OSError as exc:  # a reset surfaces here
        return repr(exc).encode()


def test_forty_fresh_connections_arriving_while_the_server_is_busy_are_all_answered(own_local_server):
    """The server is paused (SIGSTOP) while the burst connects, so it accepts
    none of them: every connection has to wait in the listen backlog. With
    socketserver's default backlog of 5, the kernel completes 6 handshakes and
    drops the rest; here all 40 complete, and all 40 get their answer once the
    server runs again."""
    proc, port = own_local_server
    proc.send_signal(signal.SIGSTOP)
    sockets, connected = _connect_all(port, BURST, within=3.0)
    try:
        for s in sockets:
            s.setblocking(True)
            s.settimeout(5)
            with contextlib.suppress(OSError):  # not connected: counted below
                s.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        proc.send_signal(signal.SIGCONT)
        statuses = [_read_status(s) for s in sockets]
    finally:
        proc.send_signal(signal.SIGCONT)
        for s in sockets:
            s.close()

    assert connected == BURST
    assert all(status.endswith(b" 200 OK") for status in statuses), statuses
