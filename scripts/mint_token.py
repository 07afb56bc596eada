"""Print a local-stage bearer token for USER (the token alone on stdout)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from local_backend import stage_environment

from chalicelib.auth import mint_dev_token


def main() -> None:
    user = sys.argv[1] if len(sys.argv) > 1 else "alice"
    print(mint_dev_token(user, stage_environment("local")["JWT_SECRET"]))


if __name__ == "__main__":
    main()
