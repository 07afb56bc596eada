"""S3 access. The client is created on first use and can be passed in."""

from __future__ import annotations

from typing import Any

from chalicelib import config


class Storage:
    def __init__(self, client: Any = None) -> None:
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3  # deferred: routes that never touch S3 do not pay for it
            from botocore.config import Config

            self._client = boto3.client(
                "s3",
                region_name=config.region(),
                endpoint_url=config.s3_endpoint(),
                config=Config(
                    signature_version="s3v4",
                    connect_timeout=2,
                    read_timeout=10,
                    retries={"max_attempts": 3, "mode": "standard"},
                    s3={"addressing_style": "path"},
                ),
            )
        return self._client

    def bucket_reachable(self) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.head_bucket(Bucket=config.bucket_name())
        except (ClientError, BotoCoreError):
            return False
        return True


_storage: Storage | None = None


def storage() -> Storage:
    global _storage
    if _storage is None:
        _storage = Storage()
    return _storage
