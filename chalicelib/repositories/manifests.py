"""Manifest persistence: keys, listing-index attributes, conditional writes."""

from __future__ import annotations

from typing import Any

from pynamodb.exceptions import DeleteError, DoesNotExist, PutError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from chalicelib.errors import ConflictError, NotFoundError, PreconditionFailedError
from chalicelib.models import MANIFEST_INDEXES, SCOPE_ATTRS, SORT_ATTRS, ManifestModel, index_name

M = ManifestModel
NAME_KEY_MAX_BYTES = 512  # LSI/GSI sort keys are limited to 1024 bytes
PENDING_PARTITION = "pending"
ABANDONED = "abandoned"  # deleted_at of a retired duplicate


def live_condition() -> Condition:
    """The item exists, is not soft-deleted and is not an unfinished duplicate."""
    return M.manifest_id.exists() & M.deleted_at.does_not_exist() & M.pending_until.does_not_exist()


def name_sort_key(name: str, manifest_id: str) -> str:
    """Case-insensitive name order, tie-broken by id; TAB sorts below any printable char."""
    folded = name.casefold().encode("utf-8")[:NAME_KEY_MAX_BYTES].decode("utf-8", "ignore")
    return f"{folded}\t{manifest_id}"


def scope_partitions(owner_id: str, category: str, status: str) -> dict[str, str]:
    return {
        "p_cat": f"{owner_id}#{category}",
        "p_st": f"{owner_id}#{status}",
        "p_cs": f"{owner_id}#{category}#{status}",
    }


def listing_attributes(m: ManifestModel) -> dict[str, Any]:
    """Every attribute that places a live manifest in the listing indexes."""
    return {
        "s_upd": f"{m.updated_at}#{m.manifest_id}",
        "s_crt": f"{m.created_at}#{m.manifest_id}",
        "s_name": name_sort_key(m.name, m.manifest_id),
        "s_used": m.times_used,
        "s_count": m.asset_count,
        **scope_partitions(m.owner_id, m.category, m.status),
    }


LISTING_ATTRS = ("s_upd", "s_crt", "s_name", "s_used", "s_count", "p_cat", "p_st", "p_cs")


def _revision_condition(expected_revision: int | None) -> Condition | None:
    return None if expected_revision is None else (M.revision == expected_revision)


class ManifestRepository:
    def add(self, manifest: ManifestModel, *, listed: bool = True) -> None:
        if listed:
            for key, value in listing_attributes(manifest).items():
                setattr(manifest, key, value)
        manifest.save(condition=M.manifest_id.does_not_exist())

    def get(self, owner_id: str, manifest_id: str) -> ManifestModel | None:
        try:
            return M.get(owner_id, manifest_id, consistent_read=True)
        except DoesNotExist:
            return None

    def get_live(self, owner_id: str, manifest_id: str) -> ManifestModel:
        manifest = self.get(owner_id, manifest_id)
        if manifest is None or manifest.deleted_at or manifest.pending_until:
            raise NotFoundError("Manifest not found")
        return manifest

    def update(
        self,
        owner_id: str,
        manifest_id: str,
        changes: dict[str, Any],
        now: str,
        expected_revision: int | None = None,
    ) -> ManifestModel:
        """Apply field changes; listing keys that depend on a changed field change with it."""
        for _attempt in range(5):
            actions: list[Action] = [
                M.updated_at.set(now),
                M.s_upd.set(f"{now}#{manifest_id}"),
                M.revision.add(1),
            ]
            for field, value in changes.items():
                attr = getattr(M, field)
                actions.append(attr.remove() if value is None else attr.set(value))
            if "name" in changes:
                actions.append(M.s_name.set(name_sort_key(changes["name"], manifest_id)))
            condition = live_condition()
            if expected_revision is not None:
                condition &= M.revision == expected_revision
            if "category" in changes or "status" in changes:
                # The scope partitions combine category and status: pin the values
                # they were computed from, so a concurrent change cannot mix them.
                current = self.get_live(owner_id, manifest_id)
                category = changes.get("category") or current.category
                status = changes.get("status") or current.status
                for key, value in scope_partitions(owner_id, category, status).items():
                    actions.append(getattr(M, key).set(value))
                condition &= (M.category == current.category) & (M.status == current.status)
            item = M(owner_id, manifest_id)
            try:
                item.update(actions=actions, condition=condition)
                return item
            except UpdateError as exc:
                if exc.cause_response_code != "ConditionalCheckFailedException":
                    raise
                self._raise_for_failed_condition(owner_id, manifest_id, expected_revision)
        raise ConflictError("The manifest is being changed concurrently; retry")

    def _raise_for_failed_condition(
        self, owner_id: str, manifest_id: str, expected_revision: int | None
    ) -> ManifestModel:
        current = self.get_live(owner_id, manifest_id)
        if expected_revision is not None and current.revision != expected_revision:
            raise PreconditionFailedError("The manifest has changed", revision=current.revision)
        return current

    def allocate_tag_number(self, owner_id: str, manifest_id: str, prefix: str) -> int:
        """Hand out the next number for a tag prefix. Numbers are never reused:
        the counter only grows, atomically, on the manifest item itself."""
        item = M(owner_id, manifest_id)
        try:
            item.update(actions=[M.tag_seq[prefix].add(1)], condition=live_condition())
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                raise NotFoundError("Manifest not found") from exc
            raise
        return int(item.tag_seq[prefix])

    def soft_delete(self, owner_id: str, manifest_id: str, now: str, expected_revision: int | None) -> bool:
        """Mark deleted and leave every listing index, only while nothing references it.

        Returns False when the reference count (kept exact by the attach/detach
        transactions on this same item) is not zero.
        """
        condition = live_condition() & (M.ref_count == 0)
        extra = _revision_condition(expected_revision)
        if extra is not None:
            condition &= extra
        actions: list[Action] = [M.deleted_at.set(now), M.updated_at.set(now), M.revision.add(1)]
        actions += [getattr(M, a).remove() for a in LISTING_ATTRS]
        try:
            M(owner_id, manifest_id).update(actions=actions, condition=condition)
        except UpdateError as exc:
            if exc.cause_response_code != "ConditionalCheckFailedException":
                raise
            current = self._raise_for_failed_condition(owner_id, manifest_id, expected_revision)
            if current.ref_count:
                return False
            return self.soft_delete(owner_id, manifest_id, now, expected_revision)
        return True

    def set_thumbnail(
        self, owner_id: str, manifest_id: str, thumbnail_key: str | None, seen_revision: int
    ) -> bool:
        """Store the derived thumbnail only if nothing changed since `seen_revision`
        (a later change recomputes it itself); it does not bump the revision."""
        action = M.thumbnail_key.set(thumbnail_key) if thumbnail_key else M.thumbnail_key.remove()
        try:
            M(owner_id, manifest_id).update(
                actions=[action], condition=live_condition() & (M.revision == seen_revision)
            )
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    # --- transactional pieces used by the asset and project repositories -------

    def tx_asset_added(
        self,
        tx: TransactWrite,
        owner_id: str,
        manifest_id: str,
        now: str,
        delta: int,
        max_assets: int | None = None,
    ) -> None:
        condition = live_condition()
        if max_assets is not None:
            condition &= M.asset_count < max_assets
        tx.update(
            M(owner_id, manifest_id),
            actions=[
                M.asset_count.add(delta),
                M.s_count.add(delta),
                M.updated_at.set(now),
                M.s_upd.set(f"{now}#{manifest_id}"),
                M.revision.add(1),
            ],
            condition=condition,
        )

    def tx_attach(self, tx: TransactWrite, owner_id: str, manifest_id: str, version: int, now: str) -> None:
        """Count a new reference and a use, only on a live manifest at >= that version."""
        tx.update(
            M(owner_id, manifest_id),
            actions=[
                M.ref_count.add(1),
                M.times_used.add(1),
                M.s_used.add(1),
                M.last_used_at.set(now),
            ],
            condition=live_condition() & (M.version >= version),
        )

    def tx_detach(self, tx: TransactWrite, owner_id: str, manifest_id: str) -> None:
        tx.update(
            M(owner_id, manifest_id),
            actions=[M.ref_count.add(-1)],
            condition=M.manifest_id.exists() & (M.ref_count > 0),
        )

    def tx_check_version(self, tx: TransactWrite, owner_id: str, manifest_id: str, version: int) -> None:
        tx.condition_check(M, owner_id, manifest_id, condition=live_condition() & (M.version >= version))

    # --- listing -----------------------------------------------------------------

    def page(
        self,
        owner_id: str,
        *,
        category: str | None,
        status: str | None,
        sort_by: str,
        ascending: bool,
        limit: int,
        start_key: dict[str, Any] | None,
    ) -> tuple[list[ManifestModel], dict[str, Any] | None]:
        """One page from the index that serves this filter and sort.

        Reads limit+1 index keys (to know whether more remain) and then exactly
        the page's items from the base table, consistently, so a stale index
        entry never shows stale or deleted data.
        """
        if category and status:
            scope, hash_key = "category_status", f"{owner_id}#{category}#{status}"
        elif category:
            scope, hash_key = "category", f"{owner_id}#{category}"
        elif status:
            scope, hash_key = "status", f"{owner_id}#{status}"
        else:
            scope, hash_key = "owner", owner_id
        index = MANIFEST_INDEXES[index_name(scope, sort_by)]
        keys_iter = index.query(
            hash_key,
            scan_index_forward=ascending,
            limit=limit + 1,
            page_size=limit + 1,
            last_evaluated_key=start_key,
            consistent_read=(scope == "owner"),
        )
        keys = list(keys_iter)
        more = len(keys) > limit
        keys = keys[:limit]
        next_key = None
        if more and keys:
            last = keys[-1]
            next_key = {"owner_id": {"S": last.owner_id}, "manifest_id": {"S": last.manifest_id}}
            sort_attr = SORT_ATTRS[sort_by]
            sort_value = getattr(last, sort_attr)
            next_key[sort_attr] = (
                {"N": str(sort_value)} if isinstance(sort_value, (int, float)) else {"S": sort_value}
            )
            if scope != "owner":
                next_key[SCOPE_ATTRS[scope]] = {"S": hash_key}
        if not keys:
            return [], None
        fetched = {
            m.manifest_id: m
            for m in M.batch_get([(k.owner_id, k.manifest_id) for k in keys], consistent_read=True)
        }
        items = []
        for key in keys:
            m = fetched.get(key.manifest_id)
            if m is None or m.deleted_at or m.pending_until:
                continue
            if (category and m.category != category) or (status and m.status != status):
                continue  # the GSI entry is stale; the base table is the truth
            items.append(m)
        return items, next_key

    # --- duplicates in progress ---------------------------------------------------

    def add_pending(self, manifest: ManifestModel, pending_until: str) -> None:
        """Write the unfinished copy (fresh id). A condition failure on botocore's
        retry of our own write whose answer was lost is resolved by reading it."""
        manifest.pending_until = pending_until
        manifest.pending_gsi_pk = PENDING_PARTITION
        try:
            manifest.save(condition=M.manifest_id.does_not_exist())
        except PutError as exc:
            if exc.cause_response_code != "ConditionalCheckFailedException":
                raise
            stored = self.get(manifest.owner_id, manifest.manifest_id)
            if stored is None or stored.pending_until != pending_until or stored.deleted_at:
                raise

    def publish_pending(self, manifest: ManifestModel) -> None:
        """Make a fully copied duplicate visible in one conditional write.

        The condition fails for a copy that was retired (the sweep or a rollback
        got there first) and for a retry of our own committed write whose answer
        was lost; the item, read back, tells which. Raises ConflictError when the
        copy was not published.
        """
        actions: list[Action] = [M.pending_until.remove(), M.pending_gsi_pk.remove(), M.held_refs.remove()]
        actions += [getattr(M, k).set(v) for k, v in listing_attributes(manifest).items()]
        thumb = manifest.thumbnail_key
        actions.append(M.thumbnail_key.set(thumb) if thumb else M.thumbnail_key.remove())
        try:
            M(manifest.owner_id, manifest.manifest_id).update(
                actions=actions, condition=M.pending_until.exists() & M.deleted_at.does_not_exist()
            )
        except UpdateError as exc:
            if exc.cause_response_code != "ConditionalCheckFailedException":
                raise
            current = self.get(manifest.owner_id, manifest.manifest_id)
            if current is None or current.deleted_at or current.pending_until:
                raise ConflictError("The copy was abandoned before it completed; retry") from exc

    def expired_pending(self, now: str, limit: int = 50) -> list[ManifestModel]:
        """Index keys only: candidates, each re-read by `retire_pending`'s condition."""
        index = MANIFEST_INDEXES["pending"]
        return list(index.query(PENDING_PARTITION, M.pending_until < now, limit=limit))

    def retire_pending(self, owner_id: str, manifest_id: str, due_before: str | None = None) -> str:
        """Mark an unfinished duplicate as abandoned, so it can never be published
        while its assets and references are being removed. With `due_before`
        (the sweep), only a copy whose deadline passed. Idempotent: the condition
        still holds for a retry of a committed retire.

        Returns "retired" (removal may proceed), or, read back consistently,
        "published", "gone" or "not_due" (nothing to remove).
        """
        condition = M.pending_until.exists()
        if due_before is not None:
            condition &= M.pending_until < due_before
        try:
            M(owner_id, manifest_id).update(actions=[M.deleted_at.set(ABANDONED)], condition=condition)
        except UpdateError as exc:
            if exc.cause_response_code != "ConditionalCheckFailedException":
                raise
            current = self.get(owner_id, manifest_id)
            if current is None:
                return "gone"
            if not current.pending_until:
                return "published"
            return "not_due"
        return "retired"

    def delete_pending(self, owner_id: str, manifest_id: str) -> None:
        """Delete a retired copy once it holds no image references."""
        condition = (
            M.pending_until.exists()
            & (M.deleted_at == ABANDONED)
            & M.held_refs.does_not_exist()  # DynamoDB drops a set with its last element
        )
        try:
            M(owner_id, manifest_id).delete(condition=condition)
        except DeleteError as exc:  # already gone (or still holding): nothing to delete now
            if exc.cause_response_code != "ConditionalCheckFailedException":
                raise
