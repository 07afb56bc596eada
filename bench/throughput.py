"""Concurrent throughput through the real local server: `chalice local` (as
`make run` starts it, scripts/chalice_local.py) in its own process, against the
bench's moto server, driven by N client threads for a fixed time each.

Each client has its own keep-alive connection and sends its next request as
soon as the last one is answered. A request counts if it was sent before the
time was up; an error is any other status than the one expected, or no answer
within the timeout.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import statistics
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import requests

TIMEOUT = 30.0
ROUNDS = 4
ASSETS_PER_MANIFEST = 400  # below the 500-asset limit: a client moves on to the next manifest


@dataclass
class Run:
    operation: str
    clients: int
    seconds: float
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)

    @property
    def requests(self) -> int:
        return len(self.latencies) + sum(self.errors.values())

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds

    def percentile(self, q: float) -> float:
        if len(self.latencies) < 2:
            return self.latencies[0] * 1000 if self.latencies else float("nan")
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[int(q) - 1] * 1000


@contextlib.contextmanager
def local_server(env: dict[str, str]) -> Iterator[str]:
    """`chalice local` on a free port, as `make run` starts it; yields its base URL."""
    # scripts/ is on sys.path through bench/run.py
    from local_backend import free_port, start_local_server, stop_process

    with tempfile.TemporaryFile() as log:
        proc, base = start_local_server(env, free_port(), log)
        try:
            yield base
        finally:
            stop_process(proc)


Request = Callable[[requests.Session], tuple[int, int]]  # -> (status, expected status)


def drive(operation: str, clients: int, seconds: float, make_request: Callable[[], Request]) -> Run:
    """`clients` threads, each sending requests back to back for `seconds`."""
    run = Run(operation, clients, seconds)
    lock = threading.Lock()
    barrier = threading.Barrier(clients + 1)
    stop_at = [0.0]

    def client() -> None:
        send = make_request()
        with requests.Session() as session:
            barrier.wait()
            while time.monotonic() < stop_at[0]:
                started = time.perf_counter()
                try:
                    status, expected = send(session)
                    error = None if status == expected else f"HTTP {status}"
                except requests.RequestException as exc:
                    error = type(exc).__name__
                elapsed = time.perf_counter() - started
                with lock:
                    if error is None:
                        run.latencies.append(elapsed)
                    else:
                        run.errors[error] += 1

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    stop_at[0] = time.monotonic() + seconds
    barrier.wait()
    for thread in threads:
        thread.join(seconds + TIMEOUT + 10)
    return run


def list_page(base: str, headers: dict[str, str]) -> Callable[[], Request]:
    def make() -> Request:
        def send(session: requests.Session) -> tuple[int, int]:
            page = session.get(f"{base}/api/manifests?limit=50", headers=headers, timeout=TIMEOUT)
            return page.status_code, 200

        return send

    return make


def create_asset(base: str, headers: dict[str, str], manifests: Iterator[str]) -> Callable[[], Request]:
    """Each client adds assets to a manifest of its own, and takes the next one
    from `manifests` before reaching the 500-asset limit."""
    lock = threading.Lock()

    def make() -> Request:
        counter = itertools.count()
        current = [""]

        def send(session: requests.Session) -> tuple[int, int]:
            if next(counter) % ASSETS_PER_MANIFEST == 0:
                with lock:
                    current[0] = next(manifests)
            r = session.post(
                f"{base}/api/manifests/{current[0]}/assets",
                json={"name": "Hero", "asset_type": "CHARACTER"},
                headers=headers,
                timeout=TIMEOUT,
            )
            return r.status_code, 201

        return send

    return make


def measure(
    token: str,
    manifests: Iterator[str],
    clients: list[int],
    seconds: float,
    say: Callable[[str], None],
    rounds: int = ROUNDS,
) -> list[Run]:
    """List page and create asset for each client count, through one local server.

    Each (operation, clients) gets `seconds` in all, in `rounds` slices that
    alternate between the client counts: the machine is shared, and a change in
    its load then weighs on every client count alike."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    runs: dict[tuple[str, int], Run] = {}
    with local_server(dict(os.environ)) as base:
        requests.get(f"{base}/api/manifests?limit=50", headers=headers, timeout=TIMEOUT)  # warm up the app
        for name, make in (
            ("list page", list_page(base, headers)),
            ("create asset", create_asset(base, headers, manifests)),
        ):
            for _ in range(rounds):
                for count in clients:
                    part = drive(name, count, seconds / rounds, make)
                    run = runs.setdefault((name, count), Run(name, count, 0.0))
                    run.seconds += part.seconds
                    run.latencies += part.latencies
                    run.errors.update(part.errors)
            for count in clients:
                run = runs[(name, count)]
                say(
                    f"  {name:<14} {count:>3} clients: {run.rate:7.1f} req/s  "
                    f"p50 {run.percentile(50):7.1f} ms  p99 {run.percentile(99):7.1f} ms  "
                    f"errors {sum(run.errors.values())}"
                )
    return list(runs.values())


def markdown(runs: list[Run]) -> list[str]:
    lines = [
        "| operation | clients | seconds | answered | req/s | p50 ms | p99 ms | errors |",
        "|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for run in runs:
        errors = sum(run.errors.values())
        detail = f" ({', '.join(f'{k} x{v}' for k, v in run.errors.most_common())})" if errors else ""
        lines.append(
            f"| {run.operation} | {run.clients} | {run.seconds:g} | {len(run.latencies)} | {run.rate:.1f} "
            f"| {run.percentile(50):.1f} | {run.percentile(99):.1f} | {errors}{detail} |"
        )
    return lines
