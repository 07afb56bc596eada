"""Idempotency-Key for POSTs that create things, on Powertools' idempotency utility.

A retry with the same key and the same request gets the original response (same
ids) and creates nothing; the same key with a different request is refused
(422); a retry while the first is still running gets 409. Records expire after
24 h (DynamoDB TTL). Powertools is imported only when a request carries a key.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Callable
from typing import Any

from chalicelib import config
from chalicelib.errors import (
    ConflictError,
    DomainError,
    ServiceUnavailableError,
    ValidationFailedError,
)

log = logging.getLogger(__name__)

MAX_KEY_LENGTH = 255


def _bad_key(msg: str) -> ValidationFailedError:
    return ValidationFailedError(
        "Invalid Idempotency-Key header",
        [{"loc": ["header", "Idempotency-Key"], "msg": msg, "type": "value_error"}],
    )


def check_key(key: str) -> str:
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH:
        raise _bad_key(f"Must be 1 to {MAX_KEY_LENGTH} characters")
    if not key.isprintable() or not key.isascii():
        raise _bad_key("Must be printable ASCII")
    return key


@functools.cache
def _persistence(table_name: str, endpoint: str | None, region: str) -> Any:
    import boto3
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
    from botocore.config import Config

    client = boto3.client(
        "dynamodb",
        region_name=region,
        endpoint_url=endpoint,
        config=Config(
            connect_timeout=config.dynamodb_connect_timeout(),
            read_timeout=config.dynamodb_read_timeout(),
            retries=config.dynamodb_retry_configuration(),  # type: ignore[arg-type]
        ),
    )
    return DynamoDBPersistenceLayer(table_name=table_name, boto3_client=client)


def run_once(
    key: str,
    scope: str,
    fingerprint: bytes,
    produce: Callable[[], dict[str, Any]],
    lambda_context: Any = None,
) -> dict[str, Any]:
    """Run `produce` at most once per (scope, key) within the expiry window.

    `scope` names the owner and the route, so two owners (or two routes) never
    share a key; `fingerprint` is the request, so a reused key with another
    body is detected.
    """
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyInconsistentStateError,
        IdempotencyPersistenceLayerError,
        IdempotencyValidationError,
    )

    persistence = _persistence(config.table_name("idempotency"), config.dynamodb_endpoint(), config.region())
    settings = IdempotencyConfig(
        event_key_jmespath="key",
        payload_validation_jmespath="request",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=config.idempotency_ttl_seconds(),
    )
    if lambda_context is not None and hasattr(lambda_context, "get_remaining_time_in_millis"):
        # Lets a crashed attempt's in-progress record expire with the invocation.
        settings.register_lambda_context(lambda_context)

    # What `produce` did, so a failure of the record store *after* it ran does not
    # hide its outcome: a committed create is answered as such, never as a 503.
    outcome: dict[str, Any] = {}

    @idempotent_function(data_keyword_argument="call", persistence_store=persistence, config=settings)
    def create(call: dict[str, str]) -> dict[str, Any]:
        try:
            outcome["result"] = produce()
        except Exception as exc:
            outcome["error"] = exc
            raise
        return outcome["result"]

    call = {"key": f"{scope}\n{key}", "request": hashlib.sha256(fingerprint).hexdigest()}
    try:
        result: dict[str, Any] = create(call=call)
    except IdempotencyValidationError as exc:
        raise ValidationFailedError(
            "Idempotency-Key was already used with a different request",
            [
                {
                    "loc": ["header", "Idempotency-Key"],
                    "msg": "Reused with another request",
                    "type": "conflict",
                }
            ],
        ) from exc
    except IdempotencyAlreadyInProgressError as exc:
        raise ConflictError("A request with this Idempotency-Key is still in progress; retry") from exc
    except (IdempotencyPersistenceLayerError, IdempotencyInconsistentStateError) as exc:
        if "result" in outcome:
            log.warning("idempotency record not saved after success; answering the result")
            return dict(outcome["result"])
        if isinstance(outcome.get("error"), DomainError):
            raise outcome["error"] from exc
        raise ServiceUnavailableError("Idempotency store unavailable") from exc
    return result
