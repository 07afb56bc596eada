"""Helpers for tests that force an interleaving with the fault hook.

A request runs in a background thread and the test waits until the hook has
caught its call (a rule's `hits` went up), so "A's write is held while B runs"
is a fact the test establishes, not a timing it hopes for.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from faults import FaultClient

from chalicelib import config
from chalicelib.models import AssetModel, ManifestModel

WAIT_SECONDS = 120.0  # generous: a machine at load 6 is slow, never wrong
HOLD_SECONDS = 3.0  # how long a "latency" rule holds a call while the test acts


def botocore_attempts() -> int:
    """How many times botocore sends one call (first try + retries): a fault with
    this many `times` outlives botocore's own retries."""
    return config.dynamodb_max_retries() + 1


def in_background(fn: Callable[[], Any]) -> Future[Any]:
    pool = ThreadPoolExecutor(max_workers=1)
    future = pool.submit(fn)
    pool.shutdown(wait=False)
    return future


def wait_for_hits(
    faults: FaultClient, rule_id: str, hits: int = 1, unless: Future[Any] | None = None
) -> bool:
    """Block until the rule has caught `hits` calls (True), or `unless` finished
    first (False). Polls a condition; never decides anything by elapsed time."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if faults.hits(rule_id) >= hits:
            return True
        if unless is not None and unless.done():
            return False
        time.sleep(0.02)
    raise AssertionError(f"fault rule {rule_id} never caught {hits} call(s)")


def stored_manifest(owner: str, manifest_id: str) -> ManifestModel:
    return ManifestModel.get(owner, manifest_id, consistent_read=True)


def stored_assets(manifest_id: str) -> list[AssetModel]:
    return list(AssetModel.query(manifest_id, consistent_read=True))
