"""make bench: DynamoDB calls, items read and latency per operation, and the
cold import time of app.py.

One owner is seeded with N manifests for each N (plus other owners' manifests
as noise), straight through the PynamoDB models with BatchWriteItem. Each
operation then goes through the real app in-process (`chalice.test.Client`)
against a moto server over HTTP, in its own process. DynamoDB calls and items
read are counted from botocore's before-call/after-call events on the clients
PynamoDB uses; items read is ScannedCount for Query/Scan plus the items that
GetItem/BatchGetItem return.

    .venv/bin/python bench/run.py [--sizes 100,1000,10000] [--noise 5000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

from bench import importtime, seed, throughput  # noqa: E402
from bench.instrument import DynamoDBMeter, Usage  # noqa: E402

RESULTS = ROOT / "bench" / "RESULTS.md"
PAGE = 50  # the page size the list rows ask for (`limit`)
LIBRARY = 1000  # the whole-library row: manifests of its owner (= config.library_cap())
NOISE_OWNERS = 50
DUPLICATE_ASSETS = 100
IMPORT_GOAL = 1.15


@dataclass
class Op:
    """One operation to measure: `request()` returns (method, path, body, expected status)."""

    name: str
    request: Callable[[], tuple[str, str, Any, int]]


@dataclass
class Result:
    op: str
    n: int
    usages: list[Usage] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)

    def spread(self, values: list[int]) -> str:
        low, high = min(values), max(values)
        return str(low) if low == high else f"{low}-{high}"

    @property
    def calls(self) -> str:
        return self.spread([u.total_calls for u in self.usages])

    @property
    def items(self) -> str:
        return self.spread([u.items_read for u in self.usages])

    @property
    def rcu(self) -> str:
        values = sorted({u.read_units for u in self.usages})
        return "-".join(f"{v:g}" for v in (values[0], values[-1])) if len(values) > 1 else f"{values[0]:g}"

    @property
    def breakdown(self) -> str:
        counts: Counter[str] = Counter()
        for usage in self.usages:
            counts.update(usage.calls)
        runs = len(self.usages)
        parts = []
        for name, total in sorted(counts.items()):
            per_run = total / runs
            parts.append(f"{name} {per_run:g}" if per_run != 1 else name)
        return ", ".join(parts)

    @property
    def median_ms(self) -> float:
        return statistics.median(self.seconds) * 1000

    @property
    def dynamodb_ms(self) -> float:
        return statistics.median(u.seconds for u in self.usages) * 1000

    @property
    def app_ms(self) -> float:
        return statistics.median(s - u.seconds for s, u in zip(self.seconds, self.usages, strict=True)) * 1000


class Bench:
    def __init__(self, client: Any, meter: DynamoDBMeter, token: str) -> None:
        self.client = client
        self.meter = meter
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, dict[str, str], Any]:
        data = b"" if body is None else json.dumps(body).encode()
        # The access log goes to stdout; keep it (and its cost) but not on screen.
        with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
            r = self.client.http.request(method, path, headers=self.headers, body=data)
        text = r.body.decode() if isinstance(r.body, bytes) else r.body
        return r.status_code, {k.lower(): v for k, v in r.headers.items()}, json.loads(text) if text else None

    def measure(self, op: Op, n: int, repeat: int) -> Result:
        result = Result(op.name, n)
        for run in range(repeat + 1):  # the first run warms up and is not counted
            method, path, body, expected = op.request()
            self.meter.reset()
            started = time.perf_counter()
            status, _, payload = self.call(method, path, body)
            elapsed = time.perf_counter() - started
            usage = self.meter.reset()
            if status != expected:
                raise RuntimeError(f"{op.name}: {method} {path} answered {status}, not {expected}: {payload}")
            if run:
                result.seconds.append(elapsed)
                result.usages.append(usage)
                result.rows.append(len(payload) if isinstance(payload, list) else 0)
        return result


def operations(bench: Bench, seeded: list[str], source: str) -> list[Op]:
    """The measured operations for one owner: `seeded` are its plain manifests,
    `source` the one holding DUPLICATE_ASSETS assets."""
    asset_target = seeded[0]
    doomed = iter(seeded[1:])
    q = f"/api/manifests?limit={PAGE}&"  # without limit the list is the whole library (library_bench)
    _, headers, _ = bench.call("GET", q[:-1])
    if not headers.get("x-next-cursor"):
        raise RuntimeError("the first list page has no next cursor")
    cursor = quote(headers["x-next-cursor"], safe="")

    def create_manifest() -> tuple[str, str, Any, int]:
        return (
            "POST",
            "/api/manifests",
            {"name": f"Bench {uuid.uuid4().hex[:8]}", "category": "STYLE_KIT"},
            201,
        )

    return [
        Op("create manifest", create_manifest),
        Op(
            "create asset",
            lambda: (
                "POST",
                f"/api/manifests/{asset_target}/assets",
                {"name": "Hero", "asset_type": "CHARACTER"},
                201,
            ),
        ),
        Op(f"get detail ({DUPLICATE_ASSETS} assets)", lambda: ("GET", f"/api/manifests/{source}", None, 200)),
        Op("list page (default: updated_at desc)", lambda: ("GET", q[:-1], None, 200)),
        Op("list next page (cursor)", lambda: ("GET", q + f"cursor={cursor}", None, 200)),
        Op(
            f"list ?category={seed.FILTER_CATEGORY}",
            lambda: ("GET", q + f"category={seed.FILTER_CATEGORY}", None, 200),
        ),
        Op(
            f"list ?category={seed.FILTER_CATEGORY}&status={seed.FILTER_STATUS}",
            lambda: ("GET", q + f"category={seed.FILTER_CATEGORY}&status={seed.FILTER_STATUS}", None, 200),
        ),
        Op(
            "list ?sort_by=name&sort_order=asc", lambda: ("GET", q + "sort_by=name&sort_order=asc", None, 200)
        ),
        Op(
            f"list ?category={seed.FILTER_CATEGORY}&sort_by=name (KEYS_ONLY GSI: the old shape)",
            lambda: ("GET", q + f"category={seed.FILTER_CATEGORY}&sort_by=name", None, 200),
        ),
        Op(
            f"duplicate ({DUPLICATE_ASSETS} assets)",
            lambda: ("POST", f"/api/manifests/{source}/duplicate", None, 201),
        ),
        Op("delete manifest", lambda: ("DELETE", f"/api/manifests/{next(doomed)}", None, 200)),
    ]


# --- the whole library (issue 9): GET /api/manifests without limit ---------------


def library_bench(client: Any, meter: DynamoDBMeter, repeat: int) -> list[str]:
    """One owner with LIBRARY manifests, read the way the web app reads them
    (no limit, no cursor): DynamoDB calls, items read, latency and body size."""
    import gzip

    from chalicelib.auth import mint_dev_token

    owner = f"bench-library-{uuid.uuid4().hex[:6]}"
    seed.seed_manifests(owner, LIBRARY)
    bench = Bench(client, meter, mint_dev_token(owner, os.environ["JWT_SECRET"]))
    path = "/api/manifests?sort_by=updated_at&sort_order=desc"
    result = bench.measure(Op("whole library", lambda: ("GET", path, None, 200)), LIBRARY, repeat)
    if set(result.rows) != {LIBRARY}:
        raise RuntimeError(f"whole library answered {result.rows} rows, not {LIBRARY}")
    _, _, payload = bench.call("GET", path)
    plain = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    return [
        f"## Whole library: GET {path} (no limit) for {LIBRARY:,} manifests",
        "",
        "| DynamoDB calls | calls by API | items read | rows | median ms | DynamoDB ms "
        "| body bytes | gzip bytes |",
        "|---|---|---|---|---|---|---|---|",
        f"| {result.calls} | {result.breakdown} | {result.items} | {LIBRARY:,} | {result.median_ms:.0f} "
        f"| {result.dynamodb_ms:.0f} | {len(plain):,} | {len(gzip.compress(plain, 6)):,} |",
    ]


@contextlib.contextmanager
def moto_process() -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "moto_server.py")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        endpoint = proc.stdout.readline().strip()
        if not endpoint.startswith("http"):
            raise RuntimeError("moto server did not start")
        yield endpoint
    finally:
        if proc.stdin:
            proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def seed_noise(total: int) -> float:
    started = time.perf_counter()
    per_owner = max(1, total // NOISE_OWNERS)
    for k in range(NOISE_OWNERS):
        seed.seed_manifests(f"bench-noise-{k}-{uuid.uuid4().hex[:6]}", per_owner)
    return time.perf_counter() - started


def markdown_operations(results: list[Result]) -> list[str]:
    lines = [
        "| operation | N | DynamoDB calls | calls by API | items read | rows returned | median ms "
        "| in DynamoDB calls ms | outside them ms |",
        "|---|--:|--:|---|--:|--:|--:|--:|--:|",
    ]
    order = list(dict.fromkeys(r.op for r in results))
    for op in order:
        for r in sorted((r for r in results if r.op == op), key=lambda r: r.n):
            rows = r.spread(r.rows) if any(r.rows) else ""
            lines.append(
                f"| {r.op} | {r.n:,} | {r.calls} | {r.breakdown} | {r.items} | {rows} "
                f"| {r.median_ms:.1f} | {r.dynamodb_ms:.1f} | {r.app_ms:.1f} |"
            )
    return lines


def markdown_imports(rows: list[tuple[str, importtime.ImportTimes]]) -> list[str]:
    lines = [
        "| import (fresh interpreter, median of "
        f"{len(rows[0][1].app_seconds)}) | app.py ms | same third-party modules ms | ratio |",
        "|---|--:|--:|--:|",
    ]
    for label, t in rows:
        lines.append(f"| {label} | {t.app_median * 1000:.1f} | {t.bare_median * 1000:.1f} | {t.ratio:.2f}x |")
    return lines


def markdown_import_costs(rows: list[tuple[str, float, float]], limit: int = 12) -> list[str]:
    ours = [r for r in rows if r[0].partition(".")[0] in importtime.OURS]
    lines = [
        f"`python -X importtime -c 'import app'`: modules the baseline does not load, "
        f"{sum(r[1] for r in rows):.1f} ms self time in all, {sum(r[1] for r in ours):.1f} ms in "
        f"{len(ours)} of our modules.",
        "",
        "| module | self ms | cumulative ms |",
        "|---|--:|--:|",
    ]
    lines += [f"| {name} | {own:.1f} | {cumulative:.1f} |" for name, own, cumulative in rows[:limit]]
    return lines


def measure_concurrent(
    largest: tuple[str, list[str]], args: argparse.Namespace, token: str
) -> list[throughput.Run]:
    """The concurrent section: the owner with the most manifests, through `chalice local`."""
    clients = [int(c) for c in args.clients.split(",") if c.strip()]
    ids = largest[1]
    print(f"concurrent: N={len(ids):,}, {args.concurrent_seconds:g}s per run, clients {clients}")
    # create asset fills manifests from the end of the seeded list (the front ones were measured or deleted)
    return throughput.measure(token, iter(reversed(ids)), clients, args.concurrent_seconds, print)


def markdown_concurrent(runs: list[throughput.Run], n: int) -> list[str]:
    return [
        f"## Concurrent throughput through `chalice local` (N={n:,})",
        "",
        "The local server as `make run` starts it (scripts/chalice_local.py), in its own process, "
        "against the same moto server; each client a thread with its own keep-alive connection, "
        "sending back to back. "
        "List page: GET /api/manifests?limit=50 (50 rows). "
        "Create asset: each client fills a manifest of its own. "
        f"Each row's seconds are {throughput.ROUNDS} slices alternating with the other client counts, so "
        "that a change in the shared machine's load weighs on each alike.",
        "",
        *throughput.markdown(runs),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="100,1000,10000", help="manifests of the measured owner, per run")
    parser.add_argument("--noise", type=int, default=5000, help="manifests spread over other owners")
    parser.add_argument("--repeat", type=int, default=7, help="measured runs per operation (median)")
    parser.add_argument("--import-runs", type=int, default=7, help="fresh interpreters per import timing")
    parser.add_argument("--no-imports", action="store_true", help="skip the import-time measurement")
    parser.add_argument("--no-uploads", action="store_true", help="skip the upload-complete measurement")
    parser.add_argument("--no-write-cost", action="store_true", help="skip the write units per operation")
    parser.add_argument("--no-library", action="store_true", help="skip the whole-library measurement")
    parser.add_argument("--clients", default="8,32", help="client counts of the concurrent section")
    parser.add_argument("--concurrent-seconds", type=float, default=20, help="seconds per concurrent run")
    parser.add_argument("--no-concurrent", action="store_true", help="skip the concurrent-throughput section")
    args = parser.parse_args()
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]

    out: list[str] = []

    def say(line: str = "") -> None:
        print(line, flush=True)
        out.append(line)

    started = time.perf_counter()
    results: list[Result] = []
    concurrent_runs: list[throughput.Run] = []
    with moto_process() as endpoint:
        from local_backend import provision

        provision(endpoint)
        from chalice.test import Client

        from app import app
        from chalicelib.auth import mint_dev_token

        logging.getLogger("vidpipe.access").setLevel(logging.WARNING)  # keep the bench output readable
        upload_rows = []
        if not args.no_uploads:
            # Before seeding: moto copies every table a transaction touches, so with
            # 15,000 manifests its own copying would dominate what is measured here.
            from bench import uploads

            with Client(app, stage_name="local", project_dir=str(ROOT)) as client:
                token = mint_dev_token(f"bench-uploads-{uuid.uuid4().hex[:6]}", os.environ["JWT_SECRET"])
                upload_rows = uploads.run(
                    client,
                    lambda: {"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                    repeats=args.repeat,
                )
        write_rows = []
        if not args.no_write_cost:
            from bench import write_cost

            with Client(app, stage_name="local", project_dir=str(ROOT)) as client:
                owner = f"bench-writes-{uuid.uuid4().hex[:6]}"
                token = mint_dev_token(owner, os.environ["JWT_SECRET"])
                write_rows = write_cost.run(client, endpoint, token, owner)
        meter = DynamoDBMeter()
        clients = meter.attach_all()
        noise_seconds = seed_noise(args.noise)
        print(f"seeded {args.noise:,} noise manifests over {NOISE_OWNERS} owners in {noise_seconds:.1f}s")
        seeding: list[str] = []
        largest: tuple[str, list[str]] = ("", [])
        with Client(app, stage_name="local", project_dir=str(ROOT)) as client:
            for n in sizes:
                owner = f"bench-owner-{n}-{uuid.uuid4().hex[:6]}"
                t0 = time.perf_counter()
                ids = seed.seed_manifests(owner, n)
                source = seed.seed_manifest_with_assets(owner, DUPLICATE_ASSETS)
                seeding.append(f"N={n:,}: {time.perf_counter() - t0:.1f}s")
                print(
                    f"seeded N={n:,} (+1 with {DUPLICATE_ASSETS} assets) in {time.perf_counter() - t0:.1f}s"
                )
                if n >= len(largest[1]):
                    largest = (owner, ids)
                bench = Bench(client, meter, mint_dev_token(owner, os.environ["JWT_SECRET"]))
                for op in operations(bench, ids, source):
                    result = bench.measure(op, n, args.repeat)
                    results.append(result)
                    print(
                        f"  {op.name:<45} calls {result.calls:>4}  items {result.items:>5}  "
                        f"{result.median_ms:8.1f} ms",
                        flush=True,
                    )
            library_rows = [] if args.no_library else library_bench(client, meter, args.repeat)
            for line in library_rows:
                print(line, flush=True)
        if not args.no_concurrent and largest[0]:
            concurrent_runs = measure_concurrent(
                largest, args, mint_dev_token(largest[0], os.environ["JWT_SECRET"])
            )

    print()
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    say(f"# make bench ({now})")
    say()
    say(
        f"Python {platform.python_version()}, moto server (own process, DynamoDB actions serialised, "
        f"scripts/fast_moto.py) "
        f"over HTTP; app in-process through chalice.test.Client. Each size is a separate owner with N "
        f"live manifests plus one holding {DUPLICATE_ASSETS} assets; {args.noise:,} manifests of "
        f"{NOISE_OWNERS} other owners are noise. Seeding: {', '.join(seeding)}. Medians of "
        f"{args.repeat} runs after one warm-up; DynamoDB calls counted on {clients} botocore clients."
    )
    say()
    for line in markdown_operations(results):
        say(line)
    say()
    lists = [r for r in results if r.op.startswith("list")]
    by_op: dict[str, list[str]] = {}
    for r in lists:
        by_op.setdefault(r.op, []).append(f"{r.items} ({r.rcu} RCU) at N={r.n:,}")
    say(f"Items read (read units) per list page (page size {PAGE}):")
    for name, values in by_op.items():
        say(f"- {name}: {', '.join(values)}")
    say()
    say(
        "Latency is moto's plus ours. moto's hot paths are replaced by scripts/fast_moto.py (Query reads "
        "one partition of a sorted index, transactions save and restore only the items they name, item "
        "responses go straight to JSON), so its time no longer grows with the table (all owners together), "
        "as DynamoDB's does not. Calls and items read are what DynamoDB would be asked for and bill; "
        "'outside them' is the app's own time per request."
    )

    if library_rows:
        say()
        for line in library_rows:
            say(line)
        say()
        say(
            f"One consistent Query of up to {LIBRARY + 1} entries of the projected LSI (the list fields ride "
            "in the index); the body is what Lambda returns without Accept-Encoding: gzip."
        )
    if concurrent_runs:
        say()
        for line in markdown_concurrent(concurrent_runs, len(largest[1])):
            say(line)

    if upload_rows:
        say()
        say("## upload-complete vs. its floor (one GET of the object + a Pillow thumbnail), same run")
        say()
        say(uploads.table(upload_rows))
        say()
        say(
            "upload-complete = the ticket read, one ranged GET, magic bytes, full decode and thumbnail, "
            "the copy of the verified bytes to the final key (so the presigned URL can no longer change "
            "them), the thumbnail PUT, one TransactWriteItems, and the manifest thumbnail refresh "
            "(goal <= 1.5x)."
        )

    if write_rows:
        say()
        say("## Write units per operation on DynamoDB (computed; moto reports a constant)")
        say()
        for line in write_cost.markdown(write_rows):
            say(line)
        say()
        say(write_cost.EXPLANATION)

    if not args.no_imports:
        cached = importtime.measure(args.import_runs, cached=True)
        timings = [
            ("byte code cached (both)", cached),
            ("compiled from source (both)", importtime.measure(args.import_runs, cached=False)),
        ]
        say()
        say(
            f"## Cold import of app.py vs. the {cached.third_party_modules} third-party modules it loads "
            f"(goal <= {IMPORT_GOAL}x)"
        )
        say()
        for line in markdown_imports(timings):
            say(line)
        if any(t.ratio > IMPORT_GOAL for _, t in timings):
            say()
            for line in markdown_import_costs(importtime.our_import_costs(cached.third_party)):
                say(line)
    say()
    say(f"Bench ran in {time.perf_counter() - started:.0f}s.")
    RESULTS.write_text("\n".join(out) + "\n")
    print(f"\nwritten to {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
