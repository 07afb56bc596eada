"""The bench's moto server, in its own process so that moto's work does not
share a GIL with the app being timed. Prints its endpoint, then serves until
its stdin closes."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

from local_backend import start_moto


def main() -> None:
    server, endpoint = start_moto()
    print(endpoint, flush=True)
    sys.stdin.read()
    server.stop()


if __name__ == "__main__":
    main()
