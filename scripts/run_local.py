"""`make run`: embedded moto server + `chalice local`, stopped together by Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from local_backend import ROOT, local_server_command, provision, start_moto, stop_process

from chalicelib.auth import mint_dev_token


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    # Stopped by a supervisor (or `make run` forwarding SIGTERM): take everything down,
    # even during start-up.
    signal.signal(signal.SIGTERM, _interrupt)
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "8000"))
    moto_port = int(os.environ.get("MOTO_PORT", "5055"))
    server = child = None
    try:
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
        # `chalice local` through our launcher: a listen backlog that holds bursts
        child = subprocess.Popen(local_server_command(port, host), cwd=ROOT, env={**os.environ, **env})
        return child.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        # A second SIGTERM or Ctrl-C must not cut the cleanup short.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if child is not None:
            stop_process(child, timeout=5)  # SIGTERM: prompt, where Ctrl-C is not
        if server is not None:
            server.stop()


if __name__ == "__main__":
    code = main()
    # Everything is stopped by now; skip the interpreter's teardown, whose final
    # garbage collection of moto's module graph takes seconds on a loaded machine.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
