"""Upload tickets and image reference counts.

Completing an upload is one transaction: the asset points at the new image,
the image gets its first reference, the ticket moves PENDING -> COMPLETED and
the manifest's revision moves on. A second completion (the client's retry, or
the S3 event handler racing the client) finds the ticket COMPLETED.
"""

from __future__ import annotations

from typing import Any

from pynamodb.exceptions import DeleteError, DoesNotExist, UpdateError
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from chalicelib.models import AssetModel, ImageRefModel, ManifestModel, UploadModel
from chalicelib.repositories.base import condition_failed, put_new, transact, translate_errors
from chalicelib.repositories.manifests import content_changed, live_condition

U = UploadModel
R = ImageRefModel
A = AssetModel
M = ManifestModel
PENDING = "pending"


def _shows(manifest_id: str, asset_id: str, object_key: str) -> bool:
    try:
        return A.get(manifest_id, asset_id, consistent_read=True).reference_image_key == object_key
    except DoesNotExist:
        return False


@translate_errors
class UploadRepository:
    def add(self, ticket: UploadModel) -> None:
        ticket.pending_pk = PENDING
        put_new(ticket, U.upload_id.does_not_exist())

    def get(self, upload_id: str) -> UploadModel | None:
        try:
            return U.get(upload_id, consistent_read=True)
        except DoesNotExist:
            return None

    def complete(self, ticket: UploadModel, previous_image_key: str | None, now: str, ttl: Any) -> None:
        """Attach the verified image to the asset, atomically with the ticket and
        the new image's first reference. Raises ConditionFailed on any lost race."""
        asset_condition = A.asset_id.exists()
        if previous_image_key:
            asset_condition &= A.reference_image_key == previous_image_key
        else:
            asset_condition &= A.reference_image_key.does_not_exist()
        asset_actions: list[Action] = [
            A.reference_image_key.set(ticket.object_key),
            A.thumbnail_key.set(ticket.thumbnail_key),
            A.updated_at.set(now),
            A.revision.add(1),
        ]
        ref = R(ticket.object_key, thumbnail_key=ticket.thumbnail_key, owner_id=ticket.owner_id, ref_count=1)

        def build(tx: TransactWrite) -> None:
            tx.save(ref, condition=R.object_key.does_not_exist())
            tx.update(
                U(ticket.upload_id),
                actions=[U.status.set("COMPLETED"), U.pending_pk.remove(), U.ttl.set(ttl)],
                condition=U.status == "PENDING",
            )
            tx.update(
                A(ticket.manifest_id, ticket.asset_id), actions=asset_actions, condition=asset_condition
            )
            tx.update(
                M(ticket.owner_id, ticket.manifest_id),
                # s_upd with updated_at: the default list sorts by it and shows it.
                actions=[
                    *content_changed(),
                    M.updated_at.set(now),
                    M.s_upd.set(f"{now}#{ticket.manifest_id}"),
                ],
                condition=live_condition(),
            )

        # The object key is this ticket's own: the asset showing it means this
        # completion committed (its answer may have been lost).
        transact(
            build,
            committed=lambda: _shows(ticket.manifest_id, ticket.asset_id, ticket.object_key),
        )

    def finish(self, upload_id: str, status: str, reason: str | None, ttl: Any) -> bool:
        """PENDING -> REJECTED/EXPIRED; False when it was no longer pending."""
        actions: list[Action] = [U.status.set(status), U.pending_pk.remove(), U.ttl.set(ttl)]
        if reason:
            actions.append(U.reason.set(reason))
        try:
            U(upload_id).update(actions=actions, condition=U.status == "PENDING")
        except UpdateError as exc:
            if not condition_failed(exc):
                raise
            # Already finished, or our own re-sent write (lost answer): the caller
            # then still cleans up (deleting objects twice is harmless).
            current = self.get(upload_id)
            return current is not None and current.status == status
        return True

    def expired_pending(self, now: str, limit: int = 100) -> list[UploadModel]:
        keys = list(U.pending.query(PENDING, U.expires_at < now, limit=limit))
        tickets = [self.get(k.upload_id) for k in keys]
        return [t for t in tickets if t is not None and t.status == "PENDING"]


@translate_errors
class ImageRefRepository:
    def acquire(self, object_key: str, count: int) -> bool:
        """Add references to an image that still exists (count > 0); False if it is gone."""
        try:
            R(object_key).update(
                actions=[R.ref_count.add(count)],
                condition=R.object_key.exists() & (R.ref_count > 0),
            )
        except UpdateError as exc:
            if condition_failed(exc):
                return False
            raise
        return True

    def release(self, object_key: str) -> ImageRefModel | None:
        """Drop one reference. Returns the ref when that was the last one (its
        record is then deleted, and the caller deletes the objects)."""
        item = R(object_key)
        try:
            item.update(actions=[R.ref_count.add(-1)], condition=R.ref_count > 0)
        except UpdateError as exc:
            if condition_failed(exc):
                return None
            raise
        if int(item.ref_count) > 0:
            return None
        try:
            item.delete(condition=R.ref_count == 0)
        except DeleteError as exc:
            if condition_failed(exc):
                return None  # someone acquired it again meanwhile: keep it
            raise
        return item
