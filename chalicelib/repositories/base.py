"""Shared DynamoDB plumbing: one lazily created connection, clocks, and transactions.

Transactions that touch a hot item (a manifest receiving many asset creates)
can be cancelled with `TransactionConflict` on AWS; those are retried here with
jittered backoff, so callers see either success or a real condition failure.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import UTC, datetime

from pynamodb.connection import Connection
from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib import config

_connection: Connection | None = None
_connection_key: tuple[str | None, str] | None = None


def connection() -> Connection:
    """The low-level connection used for transactions (models have their own)."""
    global _connection, _connection_key
    key = (config.dynamodb_endpoint(), config.region())
    if _connection is None or _connection_key != key:
        _connection = Connection(
            region=config.region(),
            host=config.dynamodb_endpoint(),
            connect_timeout_seconds=config.dynamodb_connect_timeout(),
            read_timeout_seconds=config.dynamodb_read_timeout(),
            max_retry_attempts=config.dynamodb_max_retries(),
        )
        _connection_key = key
    return _connection


def utcnow() -> str:
    """ISO 8601 UTC with fixed width, so string order is time order."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class ConditionFailed(Exception):
    """A transaction was cancelled because one of its conditions did not hold.

    `failed` holds the indexes (in PynamoDB's send order: condition checks,
    deletes, puts, updates) of the operations whose condition failed.
    """

    def __init__(self, failed: list[int]) -> None:
        super().__init__(f"conditions failed at {failed}")
        self.failed = failed


def transact(build: Callable[[TransactWrite], None], attempts: int = 8) -> None:
    """Run a write transaction built by `build`, retrying only transient conflicts."""
    for attempt in range(attempts):
        try:
            with TransactWrite(connection=connection()) as tx:
                build(tx)
            return
        except TransactWriteError as exc:
            reasons = [r.code if r else None for r in exc.cancellation_reasons]
            failed = [i for i, code in enumerate(reasons) if code == "ConditionalCheckFailed"]
            if failed:
                raise ConditionFailed(failed) from exc
            retryable = exc.cause_response_code in (
                "TransactionCanceledException",
                "TransactionConflictException",
                "TransactionInProgressException",
            )
            if not retryable or attempt == attempts - 1:
                raise
            time.sleep(random.uniform(0, 0.02 * (2**attempt)))
    raise AssertionError("unreachable")
