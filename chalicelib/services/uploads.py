"""Reference image uploads: presigned direct-to-S3 PUTs, verified after the fact.

Nothing but a verified image is ever attached: the object must exist, have the
declared size (within the limit) and magic bytes of the declared type, and
Pillow must decode it into a thumbnail. Anything else is deleted and refused.
The same `process` runs for the client's completion call and for the S3 event.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from chalicelib import config, images, observability
from chalicelib.errors import (
    ConflictError,
    NotFoundError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
    ValidationFailedError,
)
from chalicelib.models import AssetModel, UploadModel
from chalicelib.repositories.assets import AssetRepository
from chalicelib.repositories.base import ConditionFailed, utcnow
from chalicelib.repositories.uploads import UploadRepository
from chalicelib.services.assets import AssetService
from chalicelib.services.images import ImageLifecycle
from chalicelib.storage import PresignedPut, Storage
from chalicelib.uploaded import UploadedFile

log = logging.getLogger(__name__)

TICKET_RETENTION = timedelta(days=7)
MiB = 1024 * 1024
# Browsers PUT to STAGING_PREFIX (the bucket reports those objects to the
# queue); only bytes the service verified are written under IMAGE_PREFIX, by
# the service, so the presigned URL cannot change an attached image.
STAGING_PREFIX = "incoming/"
IMAGE_PREFIX = "images/"


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def owner_prefix(owner_id: str) -> str:
    """Object keys never contain the raw subject (it is not ours to publish)."""
    return hashlib.sha256(owner_id.encode()).hexdigest()[:24]


def staging_key(ticket: UploadModel) -> str:
    """Where the client's PUT lands (tickets from before staging: the final key)."""
    return ticket.staging_key or ticket.object_key


def _expired() -> ValidationFailedError:
    return _reject("Upload has expired; request a new upload URL")


def _reject(reason: str) -> ValidationFailedError:
    return ValidationFailedError(
        reason, [{"loc": ["body", "upload_id"], "msg": reason, "type": "image_rejected"}]
    )


@dataclass(frozen=True)
class IssuedUpload:
    ticket: UploadModel
    put: PresignedPut
    url_expires_at: str


class UploadService:
    def __init__(
        self,
        assets: AssetService,
        asset_repo: AssetRepository,
        uploads: UploadRepository,
        images_lifecycle: ImageLifecycle,
        store: Storage,
    ) -> None:
        self._assets = assets
        self._asset_repo = asset_repo
        self._uploads = uploads
        self._images = images_lifecycle
        self._store = store

    # --- tickets ---------------------------------------------------------------------

    def _check_declared(self, content_type: str, size: int, limit: int) -> None:
        if content_type not in images.ALLOWED_TYPES:
            raise UnsupportedMediaTypeError(
                f"content_type must be one of {', '.join(sorted(images.ALLOWED_TYPES))}"
            )
        if size > limit:
            raise PayloadTooLargeError(f"Images are limited to {limit} bytes ({limit / MiB:g} MiB)")

    def _new_ticket(self, owner_id: str, asset: AssetModel, content_type: str, size: int) -> UploadModel:
        upload_id = str(uuid.uuid4())
        base = f"{owner_prefix(owner_id)}/{asset.manifest_id}/{asset.asset_id}/{upload_id}"
        now = datetime.now(UTC)
        url_ttl = config.upload_url_ttl_seconds()
        deadline = now + timedelta(seconds=url_ttl + config.upload_complete_window_seconds())
        ext = images.ALLOWED_TYPES[content_type]
        return UploadModel(
            upload_id,
            owner_id=owner_id,
            manifest_id=asset.manifest_id,
            asset_id=asset.asset_id,
            object_key=f"{IMAGE_PREFIX}{base}.{ext}",
            staging_key=f"{STAGING_PREFIX}{base}.{ext}",
            thumbnail_key=f"thumbnails/{base}.webp",
            content_type=content_type,
            declared_size=size,
            status="PENDING",
            created_at=_iso(now),
            expires_at=_iso(deadline),
            ttl=deadline + TICKET_RETENTION,
        )

    def issue(self, owner_id: str, asset_id: str, content_type: str, size: int) -> IssuedUpload:
        """A ticket and its presigned PUT. The key is ours (owner/manifest/asset
        scoped, random); a client filename never becomes part of a path."""
        self._check_declared(content_type, size, config.max_upload_bytes())
        _, asset = self._assets.resolve(owner_id, asset_id)
        ticket = self._new_ticket(owner_id, asset, content_type, size)
        self._uploads.add(ticket)
        ttl = config.upload_url_ttl_seconds()
        put = self._store.presign_put(staging_key(ticket), content_type, size, ttl)
        url_expires = _iso(datetime.now(UTC) + timedelta(seconds=ttl))
        return IssuedUpload(ticket, put, url_expires)

    # --- completion --------------------------------------------------------------------

    def complete(self, owner_id: str, asset_id: str, upload_id: str) -> AssetModel:
        """The ticket alone proves ownership (it names owner and asset); the
        asset's and manifest's liveness are conditions of the attaching write."""
        ticket = self._uploads.get(upload_id)
        if ticket is None or ticket.owner_id != owner_id or ticket.asset_id != asset_id:
            raise NotFoundError("Upload not found")
        return self.process(ticket)

    def upload_direct(self, owner_id: str, asset_id: str, upload: UploadedFile) -> AssetModel:
        """The multipart compatibility path: same verification, bytes via the API."""
        limit = config.max_direct_upload_bytes()
        if len(upload.data) > limit:
            raise PayloadTooLargeError(
                f"Files over {limit} bytes cannot be sent through the API; "
                f"use POST /api/assets/{asset_id}/upload-url and PUT the file to S3"
            )
        if not upload.data:
            raise _reject("File is empty")
        content_type = upload.content_type or images.sniff(upload.data[:16]) or ""
        self._check_declared(content_type, len(upload.data), limit)
        _, asset = self._assets.resolve(owner_id, asset_id)
        ticket = self._new_ticket(owner_id, asset, content_type, len(upload.data))
        self._uploads.add(ticket)
        return self.process(ticket, data=upload.data)

    def process(self, ticket: UploadModel, data: bytes | None = None) -> AssetModel:
        """Verify the uploaded bytes and attach them; idempotent per ticket.

        The verified bytes (not the staging object, which the presigned URL can
        still overwrite) are written to the final key, so what is attached is
        exactly what was checked."""
        if ticket.status == "COMPLETED":
            return self._current_asset(ticket)
        if ticket.status == "REJECTED":
            raise _reject(ticket.reason or "Upload was rejected")
        if ticket.status == "EXPIRED" or ticket.expires_at < utcnow():
            self._expire(ticket)
            raise _expired()
        try:
            data = self._verified_bytes(ticket, data)
            thumb = images.make_thumbnail(data, ticket.content_type)
        except images.ImageRejected as exc:
            observability.count("UploadsRejected")
            self._store.delete(staging_key(ticket))
            self._uploads.finish(ticket.upload_id, "REJECTED", str(exc), self._ttl())
            raise _reject(str(exc)) from exc
        self._write_final(ticket, data, thumb)
        return self._attach(ticket)

    def _write_final(self, ticket: UploadModel, data: bytes, thumb: images.Thumbnail) -> None:
        """Write-once final objects. A concurrent completion of the same ticket (the
        client and the S3 event) may have written the final image first, from bytes
        it verified; then it stays, and the thumbnail is made from it, so the two
        objects always match and neither changes once written."""
        if not self._store.write_once(ticket.object_key, data, ticket.content_type):
            data = self._store.read(ticket.object_key, int(ticket.declared_size) + 1)
            thumb = images.make_thumbnail(data, ticket.content_type)
        self._store.write_once(ticket.thumbnail_key, thumb.data, thumb.content_type)

    def _verified_bytes(self, ticket: UploadModel, data: bytes | None) -> bytes:
        limit = config.max_upload_bytes()
        if data is None:
            stored = self._store.read_prefix(staging_key(ticket), limit + 1)
            if stored is None:
                # Not a rejection: the PUT may still be on its way.
                raise ValidationFailedError(
                    "No file has been uploaded for this upload_id yet",
                    [{"loc": ["body", "upload_id"], "msg": "Nothing uploaded", "type": "missing_object"}],
                )
            if stored.size > limit:
                raise images.ImageRejected(f"File is larger than {limit} bytes")
            data = stored.data
        if not data:
            raise images.ImageRejected("File is empty")
        if len(data) != int(ticket.declared_size):
            raise images.ImageRejected(
                f"Stored size {len(data)} differs from the declared size {int(ticket.declared_size)}"
            )
        images.check_type(data, ticket.content_type)
        return data

    def _attach(self, ticket: UploadModel) -> AssetModel:
        for _attempt in range(5):
            asset = self._asset_repo.get(ticket.manifest_id, ticket.asset_id)
            if asset is None or asset.owner_id != ticket.owner_id:
                self._expire(ticket)
                raise NotFoundError("Asset not found")
            previous = asset.reference_image_key
            if previous == ticket.object_key:
                return asset  # a concurrent completion of this ticket attached it
            seen = self._images.current_ref(previous)
            now = utcnow()
            try:
                last = self._uploads.complete(ticket, seen, previous, now, self._ttl())
            except ConditionFailed:
                current = self._uploads.get(ticket.upload_id)
                if current is not None and current.status == "COMPLETED":
                    return self._current_asset(ticket)
                if current is None or current.status != "PENDING" or current.expires_at <= now:
                    # Settled meanwhile without us (expired, or refused by a
                    # concurrent check): say which, and drop what we wrote.
                    if current is not None and current.status == "PENDING":
                        self._expire(current)
                    else:
                        self._store.delete(ticket.object_key, ticket.thumbnail_key)
                    if current is not None and current.status == "REJECTED":
                        raise _reject(current.reason or "Upload was rejected") from None
                    raise _expired() from None
                # The asset's image changed under us, or the asset or manifest went away.
                self._assets.resolve(ticket.owner_id, ticket.asset_id, ticket.manifest_id)
                time.sleep(0.01)
                continue
            observability.count("UploadsCompleted")
            self._discard_staging(ticket)
            self._images.refresh_manifest_thumbnail(ticket.owner_id, ticket.manifest_id)
            if last and seen is not None:
                self._images.collect_after_commit(seen)
            # What the transaction wrote, without reading it back.
            asset.reference_image_key = ticket.object_key
            asset.thumbnail_key = ticket.thumbnail_key
            asset.updated_at = now
            asset.revision = int(asset.revision) + 1
            return asset
        raise ConflictError("The asset's image is being changed concurrently; retry")

    def _current_asset(self, ticket: UploadModel) -> AssetModel:
        return self._assets.get(ticket.owner_id, ticket.asset_id, ticket.manifest_id)

    def _discard_staging(self, ticket: UploadModel) -> None:
        """After completion the staging object is garbage (best effort: the
        bucket's lifecycle rule on the staging prefix expires leftovers)."""
        if ticket.staging_key:
            try:
                self._store.delete(ticket.staging_key)
            except Exception:
                log.warning("staging object %s left to the lifecycle rule", ticket.staging_key, exc_info=True)

    def _expire(self, ticket: UploadModel) -> None:
        """PENDING -> EXPIRED (conditional: never a completed ticket), then its
        objects, then out of the sweep's index: a crash anywhere leaves a ticket
        the sweep expires again. No completion commits once the ticket is
        EXPIRED or past its deadline (conditions of the attaching transaction)."""
        status = self._uploads.mark_expired(ticket.upload_id, self._ttl())
        if status != "EXPIRED":
            return
        self._store.delete(ticket.object_key, ticket.thumbnail_key, staging_key(ticket))
        self._uploads.settle_expired(ticket.upload_id)

    def _ttl(self) -> datetime:
        return datetime.now(UTC) + TICKET_RETENTION

    # --- background -------------------------------------------------------------------

    def handle_object_created(self, key: str) -> str:
        """S3 ObjectCreated (via SQS): verify and attach uploads whose client never
        called upload-complete. Returns what happened, for the log."""
        upload_id = key.rsplit("/", 1)[-1].split(".", 1)[0]
        try:
            uuid.UUID(upload_id)
        except ValueError:
            return "ignored: not an upload key"
        ticket = self._uploads.get(upload_id)
        if ticket is None or staging_key(ticket) != key:
            return "ignored: no ticket for this key"
        if ticket.status != "PENDING" and ticket.staging_key:
            # A PUT through the old URL after the ticket was settled: garbage.
            self._store.delete(ticket.staging_key)
            return f"discarded: ticket {ticket.status.lower()}"
        try:
            self.process(ticket)
        except (ValidationFailedError, NotFoundError) as exc:
            return f"refused: {exc.detail}"
        return "attached"

    def sweep_expired(self, now: datetime | None = None) -> int:
        """Expire tickets whose completion window passed and delete their objects.
        No clock margin needed: a ticket marked EXPIRED can no longer complete."""
        cutoff = _iso(now or datetime.now(UTC))
        swept = 0
        for ticket in self._uploads.expired_pending(cutoff):
            self._expire(ticket)
            swept += 1
        return swept
