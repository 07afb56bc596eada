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
from pathlib import Path

LISTEN_BACKLOG = 1024  # the kernel caps it at net.core.somaxconn (4096 by default)


def main(argv: list[str]) -> int:
    os.environ.setdefault("PYNAMODB_CONFIG", str(Path(__file__).with_name("pynamodb_local_settings.py")))
    from chalice import cli, local

    local.ThreadedHTTPServer.request_queue_size = LISTEN_BACKLOG
    sys.argv = ["chalice", "local", *argv]
    return int(cli.main() or 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
