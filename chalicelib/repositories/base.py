"""Shared DynamoDB plumbing: one lazily created connection, clocks, transactions,
and the rules that make every write report its true outcome.

Every call can commit and then lose its answer. Two tools resolve that:
- transactions carry an explicit `ClientRequestToken`, one per logical
  operation and reused by every retry of it, so a re-sent transaction that
  already committed answers success without applying twice;
- conditional single-item writes set `write_token` (a per-request marker); when
  such a write reports a failed condition, the item is read back and a marker
  equal to ours means that the write did commit (botocore re-sent it after a lost
  response, and the re-send failed its own condition).

SDK failures that are the dependency's fault (no response, throttling that
outlived botocore's retries, 5xx) become `ServiceUnavailableError` here, where
the SDK is called; anything else is a bug and propagates.
"""

from __future__ import annotations

import functools
import logging
import random
import time
import types
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError
from pynamodb.connection import Connection
from pynamodb.exceptions import (
    DoesNotExist,
    PutError,
    PynamoDBException,
    TransactWriteError,
    UpdateError,
)
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from chalicelib import config
from chalicelib.errors import ServiceUnavailableError

log = logging.getLogger(__name__)

_connection: Connection | None = None
_connection_key: tuple[str | None, str] | None = None

# Codes that say "not now" rather than "no": retrying later may succeed.
TRANSIENT_CODES = frozenset(
    {
        "ThrottlingException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "InternalServerError",
        "InternalFailure",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "TransactionConflictException",
        "TransactionInProgressException",
        "LimitExceededException",
    }
)
# Cancellation reasons of a transaction that say the same.
TRANSIENT_REASONS = frozenset(
    {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded"}
)
UNAVAILABLE = "The database is not answering; retry shortly"

_M = TypeVar("_M", bound=Model)
_T = TypeVar("_T")


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
            retry_configuration=config.dynamodb_retry_configuration(),
        )
        _connection_key = key
    return _connection


def utcnow() -> str:
    """ISO 8601 UTC with fixed width, so string order is time order."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_write_token() -> str:
    """One per logical write: a transaction's ClientRequestToken or an item's marker."""
    return str(uuid.uuid4())


# --- error translation ----------------------------------------------------------------


def error_code(exc: PynamoDBException) -> str | None:
    """The DynamoDB error code, or None when there was no response at all.

    (PynamoDB's `cause_response_code` raises AttributeError for botocore errors
    whose `response` is None, e.g. ReadTimeoutError.)
    """
    response = getattr(exc.cause, "response", None)
    if not isinstance(response, dict):
        return None
    code = response.get("Error", {}).get("Code")
    return str(code) if code else None


def condition_failed(exc: PynamoDBException) -> bool:
    return error_code(exc) == "ConditionalCheckFailedException"


def is_transient(exc: PynamoDBException) -> bool:
    """True when the dependency failed (the request itself may be fine)."""
    cause = exc.cause
    if isinstance(cause, BotoCoreError):
        return True  # no response: timeout, connection refused/closed/reset
    code = error_code(exc)
    if code in TRANSIENT_CODES:
        return True
    # PynamoDB's VerboseClientError keeps only the error; the HTTP status is on
    # the botocore error it was raised from.
    for err in (cause, getattr(cause, "__cause__", None)):
        response = getattr(err, "response", None)
        if not isinstance(response, dict):
            continue
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if isinstance(status, int) and status >= 500:
            return True
    if isinstance(exc, TransactWriteError):
        reasons = {r.code for r in exc.cancellation_reasons if r is not None}
        return bool(reasons) and reasons <= TRANSIENT_REASONS
    return False


def translate_errors(cls: type[_T]) -> type[_T]:
    """Class decorator for repositories: a dependency failure in any method
    becomes `ServiceUnavailableError` (503 + Retry-After at the HTTP edge)."""
    for name, fn in list(vars(cls).items()):
        if isinstance(fn, types.FunctionType) and not name.startswith("__"):
            setattr(cls, name, _translated(fn))
    return cls


def _translated(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except PynamoDBException as exc:
            if is_transient(exc):
                raise ServiceUnavailableError(UNAVAILABLE) from exc
            raise

    return wrapper


# --- writes that know their outcome ---------------------------------------------------


class ConditionFailed(Exception):
    """A transaction was cancelled because one of its conditions did not hold.

    `failed` holds the indexes (in PynamoDB's send order: condition checks,
    deletes, puts, updates) of the operations whose condition failed.
    """

    def __init__(self, failed: list[int]) -> None:
        super().__init__(f"conditions failed at {failed}")
        self.failed = failed


class ConditionNotMet(Exception):
    """A marked single-item write was refused; `current` is the item as read
    afterwards (None when it does not exist), for explaining why."""

    def __init__(self, current: Model | None) -> None:
        super().__init__("condition not met")
        self.current = current


def transact(
    build: Callable[[TransactWrite], None],
    *,
    token: str | None = None,
    committed: Callable[[], bool] | None = None,
    attempts: int = 6,
) -> None:
    """Run a write transaction built by `build` (which must build the same request
    every time it is called), exactly once.

    Every attempt sends the same ClientRequestToken, so a retry of an attempt
    that committed answers success without applying twice. Transient failures
    (conflicts, throttling, no response) are retried with jittered backoff.
    When a condition fails, or the outcome stays unknown, `committed` (a read
    of this operation's own write) decides: True means it did commit.
    """
    token = token or new_write_token()
    started = time.monotonic()
    for attempt in range(attempts):
        try:
            with TransactWrite(connection=connection(), client_request_token=token) as tx:
                build(tx)
            return
        except TransactWriteError as exc:
            reasons = [r.code if r else None for r in exc.cancellation_reasons]
            failed = [i for i, code in enumerate(reasons) if code == "ConditionalCheckFailed"]
            if failed:
                if committed is not None and committed():
                    return
                raise ConditionFailed(failed) from exc
            if not is_transient(exc):
                raise
            # Sending again is safe whatever happened to the last attempt: the same
            # ClientRequestToken makes DynamoDB answer a committed attempt's success
            # without applying it twice. So retry while within the budget (botocore
            # may have given up early: its retry quota drains under many failures);
            # past it, settle by reading our own write, or answer 503.
            in_budget = time.monotonic() - started < config.dynamodb_resolve_budget_seconds()
            if attempt == attempts - 1 or not in_budget:
                if committed is not None and in_budget and _safely(committed):
                    return
                raise ServiceUnavailableError(UNAVAILABLE) from exc
            log.warning("transaction %s: %s; retrying", token, error_code(exc) or type(exc.cause).__name__)
            time.sleep(random.uniform(0, 0.05 * (2**attempt)))
    raise AssertionError("unreachable")


def _safely(check: Callable[[], bool]) -> bool:
    """A resolving read that may itself fail: unknown counts as not committed."""
    try:
        return check()
    except (PynamoDBException, ServiceUnavailableError):
        return False


def update_marked(item: _M, actions: list[Action], condition: Condition, token: str) -> _M:
    """A conditional UpdateItem that sets `write_token` and reports its true outcome.

    Returns the item as written (ALL_NEW). When the condition fails, the item is
    read back: our own marker means an earlier attempt of this very write
    committed (botocore re-sent it after a lost answer), so that is success.
    Otherwise raises `ConditionNotMet` with the current item.
    """
    marker: Action = type(item).write_token.set(token)  # type: ignore[attr-defined]
    try:
        item.update(actions=[*actions, marker], condition=condition)
        return item
    except UpdateError as exc:
        if not condition_failed(exc):
            raise
        cause = exc
    try:
        item.refresh(consistent_read=True)
    except DoesNotExist:
        raise ConditionNotMet(None) from cause
    if item.write_token == token:  # type: ignore[attr-defined]
        return item
    raise ConditionNotMet(item) from cause


def put_new(item: Model, condition: Condition) -> None:
    """PutItem of an item with a fresh random id, `condition` being "no such item".

    botocore re-sends a put whose answer was lost, and the re-send fails that
    condition against our own first attempt: the item existing then means this
    write committed (nobody else can know a fresh uuid4).
    """
    try:
        item.save(condition=condition)
    except PutError as exc:
        if not condition_failed(exc):
            raise
        try:
            item.refresh(consistent_read=True)
        except DoesNotExist:
            raise exc from None


def query_page(
    query: Callable[..., Any], hash_key: str, *, limit: int, start_key: dict[str, Any] | None, **options: Any
) -> tuple[list[Any], bool]:
    """One page of a Query (`Model.query` or an index's): limit+1 items are read so
    the caller knows whether more remain. Returns (the page, more remain)."""
    items = list(
        query(hash_key, limit=limit + 1, page_size=limit + 1, last_evaluated_key=start_key, **options)
    )
    return items[:limit], len(items) > limit
