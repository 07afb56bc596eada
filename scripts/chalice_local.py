"""`chalice local` with a listen backlog that holds a burst of connections.

Usage: python scripts/chalice_local.py [chalice local options], e.g.
    python scripts/chalice_local.py --stage local --port 8000 --no-autoreload

This is Chalice's own command and server (chalice.cli, chalice.local); only the
listen backlog of its server class changes. socketserver listens with a backlog
of 5, so when more than six connections arrive before the server thread
accepts them (a page loading its images, 20 concurrent clients, a test
releasing requests together) the kernel drops or resets the rest. PynamoDB's
connection pool is sized for the server's threads too (pynamodb_local_settings.py).
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from typing import Any

LISTEN_BACKLOG = 1024  # the kernel caps it at net.core.somaxconn (4096 by default)
ACTIVE_REQUESTS = 8  # requests the app works on at once; the others wait their turn, off the GIL


def limit_active_requests(handler_cls: Any, limit: int) -> None:
    """Let at most `limit` of the server's threads run the app at once.

    Chalice's server runs every connection on its own thread; with 32 requests
    in flight, 32 threads take turns on one GIL and each one's calls to the
    backend wait behind the others' Python work, so throughput fell as clients
    were added. The request line and headers are read before taking a slot, so
    an idle keep-alive connection holds none."""
    slots = threading.BoundedSemaphore(limit)
    handle = handler_cls._generic_handle

    def limited(self: Any) -> None:
        with slots:
            handle(self)

    for method in ("GET", "PUT", "POST", "HEAD", "DELETE", "PATCH", "OPTIONS"):
        setattr(handler_cls, f"do_{method}", limited)


def main(argv: list[str]) -> int:
    os.environ.setdefault("PYNAMODB_CONFIG", str(Path(__file__).with_name("pynamodb_local_settings.py")))
    from chalice import cli, local

    local.ThreadedHTTPServer.request_queue_size = LISTEN_BACKLOG
    limit_active_requests(local.ChaliceRequestHandler, ACTIVE_REQUESTS)
    sys.argv = ["chalice", "local", *argv]
    return int(cli.main() or 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
