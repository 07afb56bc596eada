"""`make run`: embedded moto server + `chalice local`, stopped together by Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from local_backend import ROOT, provision, start_moto

from chalicelib.auth import mint_dev_token


def main() -> int:
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "8000"))
    moto_port = int(os.environ.get("MOTO_PORT", "5055"))
    server, endpoint = start_moto(moto_port)
    env = provision(endpoint)
    token = mint_dev_token("alice", env["JWT_SECRET"])
    base = f"http://{host}:{port}/api"
    print(f"moto (DynamoDB + S3) on {endpoint}; tables and bucket ready", flush=True)
    print(f"API on {base}  (Ctrl-C stops both)\n", flush=True)
    print(f"A token for user 'alice' (make token USER=bob for another):\n{token}\n", flush=True)
    print(
        "Try:\n"
        f"  curl -s -X POST {base}/manifests -H 'Authorization: Bearer {token}' "
        '-H \'Content-Type: application/json\' -d \'{"name": "My kit", "category": "CHARACTERS"}\'\n',
        flush=True,
    )

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)  # stopped by a supervisor: take the server down too
    chalice = [sys.executable, str(ROOT / "scripts" / "chalice_local.py")]  # `chalice local`, larger backlog
    child = subprocess.Popen(
        [*chalice, "--stage", "local", "--host", host, "--port", str(port), "--no-autoreload"],
        cwd=ROOT,
        env={**os.environ, **env},
    )
    try:
        return child.wait()
    except KeyboardInterrupt:
        child.send_signal(signal.SIGINT)
        try:
            child.wait(timeout=5)
        except subprocess.TimeoutExpired:
            child.kill()
        return 0
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
