"""Readiness: every table and the bucket answer."""

from __future__ import annotations

from pynamodb.exceptions import PynamoDBException

from chalicelib.errors import ServiceUnavailableError
from chalicelib.models import ALL_MODELS
from chalicelib.storage import storage


def check() -> None:
    for model in ALL_MODELS:
        try:
            model.describe_table()
        except PynamoDBException as exc:
            raise ServiceUnavailableError(f"Table for {model.__name__} is not reachable") from exc
    if not storage().bucket_reachable():
        raise ServiceUnavailableError("Bucket is not reachable")
