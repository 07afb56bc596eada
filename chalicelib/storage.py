"""S3 access: presigned URLs, verification reads, thumbnails, cleanup.

The client is created on first use (or passed in). SDK errors are translated
here, so services only see our own outcomes: an absent object is None, and any
other failure of S3 (no answer, throttling beyond botocore's retries, 5xx, a
refusal) is `ServiceUnavailableError`, answered 503 with Retry-After.
"""

from __future__ import annotations

import functools
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from chalicelib import config
from chalicelib.errors import ServiceUnavailableError

_F = TypeVar("_F", bound=Callable[..., Any])


def _s3_errors(fn: _F) -> _F:
    """Translate botocore errors that escape `fn` into ServiceUnavailableError."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn(*args, **kwargs)
        except (BotoCoreError, ClientError) as exc:
            raise ServiceUnavailableError("The object store is not answering; retry shortly") from exc

    return wrapper  # type: ignore[return-value]


URL_CACHE_SIZE = 10_000


@dataclass(frozen=True)
class StoredObject:
    data: bytes
    size: int


@dataclass(frozen=True)
class PresignedPut:
    url: str
    headers: dict[str, str]


class Storage:
    def __init__(self, client: Any = None) -> None:
        self._client = client
        self._urls: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._lock = threading.Lock()

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
                    connect_timeout=config.s3_connect_timeout(),
                    read_timeout=config.s3_read_timeout(),
                    retries={"total_max_attempts": config.s3_max_attempts(), "mode": config.retry_mode()},
                    s3={"addressing_style": "path"},
                ),
            )
        return self._client

    @property
    def bucket(self) -> str:
        return config.bucket_name()

    def bucket_reachable(self) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
        except (ClientError, BotoCoreError):
            return False
        return True

    @_s3_errors
    def presign_put(self, key: str, content_type: str, size: int | None, expires_in: int) -> PresignedPut:
        """A PUT URL whose signature covers Content-Type (and Content-Length when
        declared), so S3 refuses any other type or length."""
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key, "ContentType": content_type}
        headers = {"Content-Type": content_type}
        if size is not None:
            params["ContentLength"] = size
            headers["Content-Length"] = str(size)
        url = self.client.generate_presigned_url(
            "put_object", Params=params, ExpiresIn=expires_in, HttpMethod="PUT"
        )
        return PresignedPut(url=url, headers=headers)

    @_s3_errors
    def image_url(self, key: str | None, *, fresh: bool = False) -> str | None:
        """A short-lived GET URL, minted at read time. A URL is reused while it has
        more than half its life left, so a page of 500 assets does not re-sign 1000
        URLs; `fresh` signs anew (the stable image address redirects to a full TTL)."""
        if not key:
            return None
        ttl = config.image_url_ttl_seconds()
        now = time.monotonic()
        with self._lock:
            cached = self._urls.get(key)
            if cached and now - cached[1] < ttl / 2 and not fresh:
                return cached[0]
        url: str = self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=ttl
        )
        with self._lock:
            self._urls[key] = (url, now)
            self._urls.move_to_end(key)
            while len(self._urls) > URL_CACHE_SIZE:
                self._urls.popitem(last=False)
        return url

    @_s3_errors
    def read_prefix(self, key: str, max_bytes: int) -> StoredObject | None:
        """The first `max_bytes` of an object and its full size, in one ranged GET
        (so an object larger than declared is never read whole); None if absent."""
        from botocore.exceptions import ClientError

        try:
            response = self.client.get_object(Bucket=self.bucket, Key=key, Range=f"bytes=0-{max_bytes - 1}")
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in ("404", "NoSuchKey", "NotFound"):
                return None
            if code == "InvalidRange":  # the range starts past the end: empty object
                return StoredObject(b"", 0)
            raise
        data: bytes = response["Body"].read()
        content_range = response.get("ContentRange") or ""
        total = content_range.rsplit("/", 1)[-1]
        return StoredObject(data, int(total) if total.isdigit() else len(data))

    @_s3_errors
    def size_of(self, key: str) -> int | None:
        """Stored size, or None when there is no such object."""
        from botocore.exceptions import ClientError

        try:
            head = self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return int(head["ContentLength"])

    @_s3_errors
    def read(self, key: str, max_bytes: int) -> bytes:
        """At most `max_bytes` of the object (a ranged GET, so a lying size cannot
        make us read more)."""
        response = self.client.get_object(Bucket=self.bucket, Key=key, Range=f"bytes=0-{max_bytes - 1}")
        data: bytes = response["Body"].read()
        return data

    @_s3_errors
    def read_object(self, key: str) -> bytes | None:
        """The whole object (a version body: written once, never changed), or None."""
        from botocore.exceptions import ClientError

        try:
            response = self.client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        data: bytes = response["Body"].read()
        return data

    @_s3_errors
    def write(self, key: str, data: bytes, content_type: str) -> None:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)

    @_s3_errors
    def write_once(self, key: str, data: bytes, content_type: str) -> bool:
        """Create the object only if the key is free (`If-None-Match: *`), so an
        object, once written, never changes. False when it already existed
        (including our own write whose answer was lost and retried)."""
        from botocore.exceptions import ClientError

        try:
            self.client.put_object(
                Bucket=self.bucket, Key=key, Body=data, ContentType=content_type, IfNoneMatch="*"
            )
        except ClientError as exc:
            # 412: exists; 409: a concurrent conditional write of the same key is in flight.
            code = exc.response.get("Error", {}).get("Code")
            if code in ("PreconditionFailed", "ConditionalRequestConflict"):
                return False
            raise
        return True

    @_s3_errors
    def delete(self, *keys: str) -> None:
        keys = tuple(k for k in keys if k)
        if not keys:
            return
        self.client.delete_objects(
            Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True}
        )

    def set_cors(self, origins: tuple[str, ...]) -> None:
        """Browsers PUT uploads and GET images straight from the bucket."""
        self.client.put_bucket_cors(
            Bucket=self.bucket,
            CORSConfiguration={
                "CORSRules": [
                    {
                        "AllowedOrigins": list(origins),
                        "AllowedMethods": ["GET", "PUT", "HEAD"],
                        "AllowedHeaders": ["Content-Type", "Content-Length"],
                        "ExposeHeaders": ["ETag"],
                        "MaxAgeSeconds": 3600,
                    }
                ]
            },
        )

    def cors_rules(self) -> list[dict[str, Any]]:
        rules: list[dict[str, Any]] = self.client.get_bucket_cors(Bucket=self.bucket)["CORSRules"]
        return rules


_storage: Storage | None = None


def storage() -> Storage:
    global _storage
    if _storage is None:
        _storage = Storage()
    return _storage
