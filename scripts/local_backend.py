"""The embedded backend for local runs, tests and benchmarks: a moto server on
loopback with our tables and bucket, plus the local stage's environment."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent


def stage_environment(stage: str = "local") -> dict[str, str]:
    """The environment a Chalice stage sets (global values, then the stage's)."""
    cfg = json.loads((ROOT / ".chalice" / "config.json").read_text())
    env = dict(cfg.get("environment_variables", {}))
    env.update(cfg["stages"][stage].get("environment_variables", {}))
    return env


_DYNAMODB_LOCK = threading.RLock()


def serialize_dynamodb() -> None:
    """Run moto's DynamoDB actions one at a time, as DynamoDB applies writes to an item.

    moto 5.2.5 takes no lock: TransactWriteItems snapshots whole tables and, when
    one of its conditions fails, restores the snapshot, erasing writes that other
    requests made meanwhile (concurrent attaches lost increments of ref_count, and
    a manifest ended up deleted while referenced); copying a table while another
    thread writes it also fails with "dictionary changed size during iteration".
    Serialising whole actions gives the per-item atomicity and transaction
    isolation that real DynamoDB guarantees; our own races still happen between
    calls, where the app must handle them with conditions and transactions.
    """
    from moto.dynamodb.responses import DynamoHandler

    if getattr(DynamoHandler, "_vidpipe_serialized", False):
        return
    original = DynamoHandler.call_action

    def call_action(self: Any) -> Any:
        with _DYNAMODB_LOCK:
            return original(self)

    DynamoHandler.call_action = call_action  # type: ignore[method-assign]
    DynamoHandler._vidpipe_serialized = True  # type: ignore[attr-defined]


def start_moto(port: int = 0, host: str = "127.0.0.1") -> tuple[Any, str]:
    """Start moto's threaded HTTP server behind the fault layer (scripts/faults.py:
    pass-through until a test or VIDPIPE_FAULTS installs rules); returns (server, endpoint URL)."""
    import fast_moto
    from faults import FAULTS_ENV, FaultMotoServer, rules_from_env

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    serialize_dynamodb()
    fast_moto.install(_DYNAMODB_LOCK)
    server = FaultMotoServer(host, port, rules_from_env(os.environ.get(FAULTS_ENV)))
    server.start()
    bound_host, bound_port = server.get_host_and_port()
    return server, f"http://{bound_host}:{bound_port}"


def backend_environment(endpoint: str) -> dict[str, str]:
    """Variables that point boto3/PynamoDB at the moto endpoint."""
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "DYNAMODB_ENDPOINT_URL": endpoint,
        "S3_ENDPOINT_URL": endpoint,
    }


def provision(endpoint: str, stage: str = "local") -> dict[str, str]:
    """Point this process at `endpoint`, create tables and bucket; returns the env used."""
    env = {**stage_environment(stage), **backend_environment(endpoint)}
    os.environ.update(env)
    from chalicelib import provisioning

    provisioning.ensure_all()
    return env


def wait_until_healthy(
    url: str,
    alive: Callable[[], bool] = lambda: True,
    deadline: float = 120.0,
    probe_timeout: float = 10.0,
) -> None:
    """Probe `url` until it answers 200. On a loaded machine a server answers slowly
    (the health check reads every table): a probe that is refused or times out is
    tried again until `deadline` seconds, not taken as failure. Raises RuntimeError
    when `alive()` turns false or the deadline passes."""
    import requests

    end = time.monotonic() + deadline
    while True:
        try:
            if requests.get(url, timeout=probe_timeout).status_code == 200:
                return
        except requests.RequestException:
            pass
        if not alive():
            raise RuntimeError(f"the server behind {url} exited before it was ready")
        if time.monotonic() > end:
            raise RuntimeError(f"{url} was not ready after {deadline:.0f} s")
        time.sleep(0.2)


def free_port() -> int:
    """A loopback port nobody listens on right now (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def local_server_command(port: int, host: str = "127.0.0.1") -> list[str]:
    """`chalice local` through scripts/chalice_local.py (a listen backlog that
    holds a burst of connections), as `make run` starts it."""
    launcher = ROOT / "scripts" / "chalice_local.py"
    return [
        sys.executable,
        str(launcher),
        "--stage",
        "local",
        "--host",
        host,
        "--port",
        str(port),
        "--no-autoreload",
    ]


def start_local_server(
    env: dict[str, str],
    port: int,
    log: IO[bytes],
    *,
    log_stdout: bool = False,
    ready_path: str = "/api/health",
) -> tuple[subprocess.Popen[bytes], str]:
    """Start `chalice local` on `port` with `env` and wait until `ready_path`
    answers 200; returns (process, base URL). Its stderr (or stdout with
    `log_stdout`, where the access log goes) is written to `log`: a file, not a
    pipe, since chalice logs every request and an undrained pipe fills up (64 KiB,
    ~860 requests) and freezes the server. On failure the process is stopped and
    the error carries the log's tail."""
    stdout: IO[bytes] | int = log if log_stdout else subprocess.DEVNULL
    stderr: IO[bytes] | int = subprocess.DEVNULL if log_stdout else log
    proc = subprocess.Popen(local_server_command(port), cwd=ROOT, env=env, stdout=stdout, stderr=stderr)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(f"{base}{ready_path}", alive=lambda: proc.poll() is None)
    except RuntimeError as exc:
        proc.kill()
        proc.wait()
        log.seek(0)
        raise RuntimeError(f"{exc}: {log.read().decode(errors='replace')[-2000:]}") from exc
    return proc, base


def stop_process(proc: subprocess.Popen[Any], timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after `timeout` seconds. SIGTERM, not SIGINT:
    `chalice local` ends at once on SIGTERM, while after Ctrl-C it spends
    seconds in the interpreter's final garbage collection."""
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
