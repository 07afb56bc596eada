"""Manifest persistence: keys, listing-index attributes, conditional writes."""

from __future__ import annotations

from typing import Any, cast

from pynamodb.exceptions import DeleteError, DoesNotExist, PutError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from chalicelib.errors import ConflictError, LimitExceededError, NotFoundError, PreconditionFailedError
from chalicelib.models import (
    DERIVED_FROM_KEYS,
    MANIFEST_INDEXES,
    SCOPE_ATTRS,
    SORT_ATTRS,
    ManifestModel,
    index_name,
)
from chalicelib.repositories.base import (
    ConditionNotMet,
    condition_failed,
    new_write_token,
    put_new,
    query_page,
    translate_errors,
    update_marked,
)

M = ManifestModel
NAME_KEY_MAX_BYTES = 512  # LSI/GSI sort keys are limited to 1024 bytes
PENDING_PARTITION = "pending"
RACE_ATTEMPTS = 5
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


def content_changed() -> list[Action]:
    """The actions every write of a manifest's content carries (its fields, or
    any of its assets): a new revision, and copy-on-write of a frozen working
    version. `version = frozen_version + 1` leaves an unfrozen working version
    as it is and moves a frozen one on, in the same write and without a read.
    Test: tests/functional/test_versions.py (pinned manifest unchanged by every edit)."""
    return [M.revision.add(1), M.version.set(M.frozen_version + 1)]


def _revision_condition(expected_revision: int | None) -> Condition | None:
    return None if expected_revision is None else (M.revision == expected_revision)


def _complete_entry(entry: ManifestModel, sort_attr: str, category: str | None, status: str | None) -> None:
    """Fill the list fields a projected index entry leaves to its keys: the field
    its sort key mirrors, and the filter values its partition stands for."""
    field = DERIVED_FROM_KEYS.get(sort_attr)
    if field:
        value = getattr(entry, sort_attr)
        if isinstance(value, str):  # timestamp#manifest_id
            value = value[: -len(entry.manifest_id) - 1]
        setattr(entry, field, value)
    if category:
        entry.category = category
    if status:
        entry.status = status


@translate_errors
class ManifestRepository:
    def add(self, manifest: ManifestModel, *, listed: bool = True) -> None:
        if listed:
            for key, value in listing_attributes(manifest).items():
                setattr(manifest, key, value)
        put_new(manifest, M.manifest_id.does_not_exist())

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
        token = new_write_token()
        for _attempt in range(RACE_ATTEMPTS):
            actions: list[Action] = [
                M.updated_at.set(now),
                M.s_upd.set(f"{now}#{manifest_id}"),
                *content_changed(),
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
            try:
                return update_marked(M(owner_id, manifest_id), actions, condition, token)
            except ConditionNotMet as exc:
                self._explain(exc.current, expected_revision)
        raise ConflictError("The manifest is being changed concurrently; retry")

    @staticmethod
    def _explain(current: Any, expected_revision: int | None) -> ManifestModel:
        """Why a conditional write on a manifest was refused: 404 or 412, else
        return the current item (a concurrent change the caller may retry past)."""
        if current is None or current.deleted_at or current.pending_until:
            raise NotFoundError("Manifest not found")
        if expected_revision is not None and current.revision != expected_revision:
            raise PreconditionFailedError("The manifest has changed", revision=current.revision)
        return cast(ManifestModel, current)

    def allocate_tag_number(
        self, owner_id: str, manifest_id: str, prefix: str, max_assets: int | None = None
    ) -> int:
        """Hand out the next number for a tag prefix. Numbers are never reused:
        the counter only grows, atomically (`ADD`), on the manifest item itself,
        and the new value comes back from the same UpdateItem.

        With `max_assets`, the write also requires room for one more asset, so a
        create learns "not found" or "full" from this one call. A number whose
        asset is never written is a gap, never a duplicate.
        """
        token = new_write_token()
        condition = live_condition()
        if max_assets is not None:
            condition &= M.asset_count < max_assets
        for _attempt in range(RACE_ATTEMPTS):
            try:
                item = update_marked(M(owner_id, manifest_id), [M.tag_seq[prefix].add(1)], condition, token)
            except ConditionNotMet as exc:
                current = self._explain(exc.current, None)
                if max_assets is not None and int(current.asset_count) >= max_assets:
                    raise LimitExceededError(f"A manifest holds at most {max_assets} assets") from None
                continue  # room again (a delete): try once more
            return int(item.tag_seq[prefix])
        raise ConflictError("The manifest is being changed concurrently; retry")

    def soft_delete(self, owner_id: str, manifest_id: str, now: str, expected_revision: int | None) -> bool:
        """Mark deleted and leave every listing index, only while nothing references it.

        Returns False when the reference count (kept exact by the attach/detach
        transactions on this same item) is not zero. The decision is the write's
        condition on `ref_count`, never a read of the projects GSI.
        """
        condition = live_condition() & (M.ref_count == 0)
        extra = _revision_condition(expected_revision)
        if extra is not None:
            condition &= extra
        actions: list[Action] = [M.deleted_at.set(now), M.updated_at.set(now), M.revision.add(1)]
        actions += [getattr(M, a).remove() for a in LISTING_ATTRS]
        token = new_write_token()
        for _attempt in range(RACE_ATTEMPTS):
            try:
                update_marked(M(owner_id, manifest_id), actions, condition, token)
                return True
            except ConditionNotMet as exc:
                current = self._explain(exc.current, expected_revision)
                if current.ref_count:
                    return False
                # ref_count went back to 0 between the write and the read: again.
        raise ConflictError("The manifest is being changed concurrently; retry")

    def set_thumbnail(
        self, owner_id: str, manifest_id: str, thumbnail_key: str | None, seen_revision: int
    ) -> bool:
        """Store the derived thumbnail only if nothing changed since `seen_revision`
        (a later change recomputes it itself). It bumps the revision: the thumbnail
        is part of what the ETag stands for, and a slower, older refresh that read
        the previous revision then fails its condition instead of overwriting."""
        action = M.thumbnail_key.set(thumbnail_key) if thumbnail_key else M.thumbnail_key.remove()
        condition = live_condition() & (M.revision == seen_revision)
        try:
            update_marked(
                M(owner_id, manifest_id),
                [action, M.revision.add(1), M.version.set(M.frozen_version + 1)],
                condition,
                new_write_token(),
            )
        except ConditionNotMet:
            return False
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
                *content_changed(),
            ],
            condition=condition,
        )

    def tx_bump_revision(self, tx: TransactWrite, owner_id: str, manifest_id: str) -> None:
        """A live manifest's content changed through one of its assets: a new
        revision (a freeze that read the old one fails) and copy-on-write of a
        frozen working version (`content_changed`). One more item in the
        asset's own transaction, so no extra call."""
        tx.update(M(owner_id, manifest_id), actions=content_changed(), condition=live_condition())

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

        Reads limit+1 index entries (to know whether more remain). Where the index
        projects the list fields (INCLUDE) that Query is the whole page: limit+1
        items read. Otherwise (KEYS_ONLY filtered sorts) the page's items are then
        read from the base table, consistently, and stale entries are dropped.
        The whole library (limit = LIBRARY_CAP) is one Query of cap+1 entries (plus,
        for KEYS_ONLY indexes, BatchGetItem in chunks of 100 keys).
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
        keys, more = query_page(
            index.query,
            hash_key,
            limit=limit,
            start_key=start_key,
            scan_index_forward=ascending,
            consistent_read=(scope == "owner"),
        )
        sort_attr = SORT_ATTRS[sort_by]
        next_key = None
        if more and keys:
            last = keys[-1]
            next_key = {"owner_id": {"S": last.owner_id}, "manifest_id": {"S": last.manifest_id}}
            sort_value = getattr(last, sort_attr)
            next_key[sort_attr] = (
                {"N": str(sort_value)} if isinstance(sort_value, (int, float)) else {"S": sort_value}
            )
            if scope != "owner":
                next_key[SCOPE_ATTRS[scope]] = {"S": hash_key}
        if not keys:
            return [], None
        if index.Meta.projection.projection_type == "INCLUDE":
            for entry in keys:
                _complete_entry(entry, sort_attr, category, status)
            return keys, next_key
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
            if not condition_failed(exc):
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
            if not condition_failed(exc):
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
            if not condition_failed(exc):
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
            if not condition_failed(exc):
                raise
