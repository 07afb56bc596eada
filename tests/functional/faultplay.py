"""Helpers for tests that force an interleaving with the fault hook.

A request runs in a background thread and the test waits until the hook has
caught its call (a rule's `hits` went up), so "A's write is held while B runs"
is a fact the test establishes, not a timing it hopes for.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from faults import FaultClient

from chalicelib import config
from chalicelib.models import AssetModel, ManifestModel

_T = TypeVar("_T")

WAIT_SECONDS = 120.0  # generous: a machine at load 6 is slow, never wrong


def hold_seconds() -> float:
    """How long a "latency" rule holds a call while the test runs the other
    request: shorter than the read timeout (or botocore would re-send the held
    call), and far longer than one request takes, even on a loaded machine."""
    return config.dynamodb_read_timeout() - 1.0


def botocore_attempts() -> int:
    """How many times botocore sends one call (first try + retries): a fault with
    this many `times` outlives botocore's own retries."""
    return config.dynamodb_max_retries() + 1


def lose_answers(
    faults: FaultClient, operation: str, match: str, *, every_attempt: bool = False, status: int | None = None
) -> str:
    """Apply the matching DynamoDB call, then lose its answer (connection dropped, or
    `status` 500): once, or on every attempt botocore makes of it."""
    rule: dict[str, Any] = {"service": "dynamodb", "operation": operation, "match": match}
    if every_attempt:
        rule["times"] = botocore_attempts()
    if status is not None:
        rule["status"] = status
    return faults.inject(fault="lose_response", **rule)


def in_background(fn: Callable[[], Any]) -> Future[Any]:
    pool = ThreadPoolExecutor(max_workers=1)
    future = pool.submit(fn)
    pool.shutdown(wait=False)
    return future


class Held(float):
    """The monotonic time a hold began, and how to end it (`release`)."""

    faults: FaultClient | None = None
    rule_id: str = ""

    def release(self) -> None:
        if self.faults is not None:
            self.faults.release(self.rule_id)


def wait_for_hits(
    faults: FaultClient, rule_id: str, hits: int = 1, unless: Future[Any] | None = None
) -> float:
    """Block until the rule has caught `hits` calls, and return a monotonic time
    no earlier than that (a `Held`, which `while_held` releases); 0.0 when `unless`
    finished first. Polls a condition; never decides anything by elapsed time."""
    deadline = time.monotonic() + WAIT_SECONDS
    earliest = time.monotonic()  # the hit happened after the last poll that missed it
    while time.monotonic() < deadline:
        if faults.hits(rule_id) >= hits:
            held = Held(earliest)
            held.faults, held.rule_id = faults, rule_id
            return held
        if unless is not None and unless.done():
            return 0.0
        earliest = time.monotonic()
        time.sleep(0.02)
    raise AssertionError(f"fault rule {rule_id} never caught {hits} call(s)")


def stored_manifest(owner: str, manifest_id: str) -> ManifestModel:
    return ManifestModel.get(owner, manifest_id, consistent_read=True)


def stored_assets(manifest_id: str) -> list[AssetModel]:
    return list(AssetModel.query(manifest_id, consistent_read=True))


def while_held(held_since: float, fn: Callable[[], _T]) -> _T:
    """Run the other request while a call is held, and check it really finished
    inside the hold (`held_since`: monotonic time the hook caught the call), so
    the interleaving the test asserts on is the one that happened."""
    try:
        result = fn()
        elapsed = time.monotonic() - held_since
        assert elapsed < hold_seconds(), f"the other request took {elapsed:.1f} s, longer than the hold"
    finally:
        if isinstance(held_since, Held):
            held_since.release()  # the held call goes on now, not at the end of its delay
    return result
