"""Create the tables and bucket from the models, for local runs and tests.

AWS stages get the same resources from the generated CloudFormation template;
this path exists so that `make run` and the tests need no template.
"""

from __future__ import annotations

from typing import Any

from chalicelib import config
from chalicelib.models import ALL_MODELS
from chalicelib.storage import storage


def ensure_tables() -> list[str]:
    created = []
    for model in ALL_MODELS:
        if not model.exists():
            model.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
            created.append(model.Meta.table_name)
    return created


def ensure_bucket() -> None:
    """The bucket, with CORS for the stage's browser origins."""
    client: Any = storage().client
    bucket = config.bucket_name()
    existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    if bucket not in existing:
        client.create_bucket(Bucket=bucket)
    origins = config.cors_origins()
    if origins:
        storage().set_cors(origins)


def ensure_all() -> None:
    ensure_tables()
    ensure_bucket()
