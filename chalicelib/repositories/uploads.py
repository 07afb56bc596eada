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

from chalicelib.errors import ConflictError
from chalicelib.models import AssetModel, ImageRefModel, ManifestModel, UploadModel
from chalicelib.repositories.base import (
    ConditionFailed,
    condition_failed,
    put_new,
    transact,
    translate_errors,
)
from chalicelib.repositories.manifests import content_changed, live_condition

U = UploadModel
R = ImageRefModel
A = AssetModel
M = ManifestModel
PENDING = "pending"
RELEASED = "released"


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

    def complete(
        self,
        ticket: UploadModel,
        previous: ImageRefModel | None,
        previous_image_key: str | None,
        now: str,
        ttl: Any,
    ) -> bool:
        """Attach the verified image to the asset, atomically with the ticket
        (PENDING -> COMPLETED, only before its deadline), the new image's first
        reference and the release of the image it replaces (`previous`, read
        consistently). Returns True when that release was the previous image's
        last reference. Raises ConditionFailed on any lost race."""
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
        refs = ImageRefRepository()
        last = False

        def build(tx: TransactWrite) -> None:
            nonlocal last
            refs.tx_create(tx, ref)
            tx.update(
                U(ticket.upload_id),
                actions=[U.status.set("COMPLETED"), U.pending_pk.remove(), U.ttl.set(ttl)],
                condition=(U.status == "PENDING") & (U.expires_at > now),
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
            if previous is not None and int(previous.ref_count) > 0:
                last = refs.tx_release(tx, previous, 1, now)

        # The object key is this ticket's own: the asset showing it means this
        # completion committed (its answer may have been lost).
        transact(
            build,
            committed=lambda: _shows(ticket.manifest_id, ticket.asset_id, ticket.object_key),
        )
        return last

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

    def mark_expired(self, upload_id: str, ttl: Any) -> str:
        """PENDING -> EXPIRED, staying in the `pending` index until its objects
        are deleted (`settle_expired`). Returns the ticket's status afterwards
        ("EXPIRED", or what it already was; "GONE" if there is no ticket)."""
        try:
            U(upload_id).update(
                actions=[U.status.set("EXPIRED"), U.ttl.set(ttl)], condition=U.status == "PENDING"
            )
        except UpdateError as exc:
            if not condition_failed(exc):
                raise
            current = self.get(upload_id)
            return current.status if current is not None else "GONE"
        return "EXPIRED"

    def settle_expired(self, upload_id: str) -> None:
        """The expired ticket's objects are gone: leave the sweep's index."""
        try:
            U(upload_id).update(actions=[U.pending_pk.remove()], condition=U.status == "EXPIRED")
        except UpdateError as exc:
            if not condition_failed(exc):
                raise

    def expired_pending(self, now: str, limit: int = 100) -> list[UploadModel]:
        """Tickets past their deadline whose objects may remain (PENDING, or
        EXPIRED by a process that died before deleting them), re-read."""
        keys = list(U.pending.query(PENDING, U.expires_at < now, limit=limit))
        tickets = [self.get(k.upload_id) for k in keys]
        return [t for t in tickets if t is not None and t.status in ("PENDING", "EXPIRED")]


def held_entry(object_key: str, count: int) -> str:
    return f"{count}:{object_key}"


def parse_held_entry(entry: str) -> tuple[str, int]:
    count, object_key = entry.split(":", 1)
    return object_key, int(count)


@translate_errors
class ImageRefRepository:
    """Reference counts of image objects.

    Every change is a write inside a transaction (botocore reuses the
    transaction's ClientRequestToken on its own retries, so a lost response
    never applies a change twice). A record at 0 is final: `acquire` requires
    `ref_count > 0`, and the write that reaches 0 sets `zero_since`, which
    lists the record in the sparse `released` index until its objects and then
    the record itself are deleted (by the releasing request, or by the sweep if
    that request died in between).
    """

    def get(self, object_key: str) -> ImageRefModel | None:
        try:
            return R.get(object_key, consistent_read=True)
        except DoesNotExist:
            return None

    def tx_create(self, tx: TransactWrite, ref: ImageRefModel) -> None:
        tx.save(ref, condition=R.object_key.does_not_exist())

    def tx_acquire(self, tx: TransactWrite, object_key: str, count: int) -> None:
        """Add references to an image that is still shown (count > 0)."""
        tx.update(
            R(object_key),
            actions=[R.ref_count.add(count)],
            condition=R.object_key.exists() & (R.ref_count > 0),
        )

    def tx_release(self, tx: TransactWrite, seen: ImageRefModel, count: int, now: str) -> bool:
        """Drop `count` references, chosen from `seen` (a consistent read). Returns
        True when these were the last ones: the record then goes to 0 with its
        `zero_since` marker in the same write, conditioned on exactly `count`
        remaining, so a reference taken since the read cancels the transaction."""
        key = seen.object_key
        if int(seen.ref_count) > count:
            tx.update(R(key), actions=[R.ref_count.add(-count)], condition=R.ref_count > count)
            return False
        tx.update(
            R(key),
            actions=[R.ref_count.set(0), R.zero_since.set(now), R.zero_pk.set(RELEASED)],
            condition=R.ref_count == count,
        )
        return True

    # --- references held by a duplicate that is not published yet ----------------------

    def acquire_for_pending(self, owner_id: str, manifest_id: str, object_key: str, count: int) -> bool:
        """Take `count` references for a pending copy and record them on the copy,
        in one transaction. False when the image is no longer shown (count 0 or
        gone); raises ConflictError when the copy is no longer open (retired)."""
        entry = held_entry(object_key, count)

        def build(tx: TransactWrite) -> None:
            self.tx_acquire(tx, object_key, count)
            tx.update(
                M(owner_id, manifest_id),
                actions=[M.held_refs.add({entry})],
                condition=M.pending_until.exists() & M.deleted_at.does_not_exist(),
            )

        try:
            transact(build)
        except ConditionFailed as exc:
            # PynamoDB sends updates in the order added: 0 is the image, 1 the copy.
            if 1 in exc.failed:
                raise ConflictError("The copy was abandoned before it completed; retry") from exc
            return False
        return True

    def release_held(self, owner_id: str, manifest_id: str, entry: str, now: str) -> ImageRefModel | None:
        """Release references a retired copy recorded, and forget them on the copy,
        in one transaction (so a crash and a resumed sweep never release twice).
        Returns the record when they were its last references."""
        object_key, count = parse_held_entry(entry)
        for _attempt in range(8):
            seen = self.get(object_key)
            last = False

            def build(tx: TransactWrite, seen: ImageRefModel | None = seen) -> None:
                nonlocal last
                if seen is not None and int(seen.ref_count) > 0:
                    last = self.tx_release(tx, seen, count, now)
                tx.update(
                    M(owner_id, manifest_id),
                    actions=[M.held_refs.delete({entry})],
                    condition=M.held_refs.contains(entry),
                )

            try:
                transact(build)
            except ConditionFailed:
                if entry not in (self._held(owner_id, manifest_id)):
                    return None  # released already (an earlier attempt committed)
                continue
            return seen if last else None
        raise ConflictError("The image is being changed concurrently; retry")

    def _held(self, owner_id: str, manifest_id: str) -> set[str]:
        try:
            item = M.get(owner_id, manifest_id, consistent_read=True, attributes_to_get=["held_refs"])
        except DoesNotExist:
            return set()
        return set(item.held_refs or ())

    def delete_released(self, ref: ImageRefModel) -> None:
        """Delete a record at 0 (after its objects). Conditional: only a record
        that is at 0 is ever deleted, whatever the caller believes."""
        try:
            R(ref.object_key).delete(condition=(R.ref_count == 0) & R.zero_since.exists())
        except DeleteError as exc:
            if not condition_failed(exc):
                raise

    def released_before(self, cutoff: str, limit: int = 100) -> list[str]:
        """Keys of records that reached 0 before `cutoff` (index keys only; the
        caller re-reads each record before acting)."""
        return [r.object_key for r in R.released.query(RELEASED, R.zero_since < cutoff, limit=limit)]
