"""Frozen manifest versions: the summary items, the freeze transaction, pins.

A version's body lives in S3 (`storage.py`); this module only writes the
DynamoDB side. The freeze is one transaction: the manifest's `frozen_version`
moves to the working version only if the manifest's `revision` is still the
one the body was built from, and the version item is created only once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pynamodb.exceptions import DoesNotExist
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from chalicelib.models import AssetLocatorModel, AssetModel, ImageRefModel, ManifestModel, VersionModel
from chalicelib.repositories.base import new_write_token, query_page, transact, translate_errors
from chalicelib.repositories.manifests import content_changed, listing_attributes, live_condition

if TYPE_CHECKING:
    from chalicelib.services.versions import RestorePlan

M = ManifestModel
V = VersionModel
R = ImageRefModel
A = AssetModel
L = AssetLocatorModel
TRANSACTION_ITEMS = 100  # DynamoDB's limit per TransactWriteItems
# Image references a freeze takes inside its own transaction (with the manifest
# and the version item); a version with more distinct images takes the rest
# before it (`hold_images`).
HELD_IN_FREEZE = TRANSACTION_ITEMS - 2


@translate_errors
class VersionRepository:
    def get(self, manifest_id: str, version: int) -> VersionModel | None:
        try:
            return V.get(manifest_id, version, consistent_read=True)
        except DoesNotExist:
            return None

    def page(
        self, manifest_id: str, *, limit: int, start_key: dict[str, Any] | None
    ) -> tuple[list[VersionModel], dict[str, Any] | None]:
        """Newest first; one Query of limit+1 items (to know whether more remain)."""
        items, more = query_page(
            V.query,
            manifest_id,
            limit=limit,
            start_key=start_key,
            scan_index_forward=False,
            consistent_read=True,
        )
        next_key = None
        if more and items:
            last = items[-1]
            next_key = {"manifest_id": {"S": last.manifest_id}, "version": {"N": str(int(last.version))}}
        return items, next_key

    def freeze(self, summary: VersionModel, seen_revision: int, hold: dict[str, int]) -> None:
        """Freeze the manifest's working version `summary.version` as `summary`.

        Conditions (all in one transaction): the manifest is live, still at that
        working version and at `seen_revision` (every content write moves the
        revision, so nothing changed since the body was read), and not frozen
        yet; the version item does not exist; each image in `hold` is still
        shown (`ref_count > 0`), and takes those references in the same write,
        so they are exact under retries and lost answers. Raises
        `ConditionFailed` otherwise.
        """
        version = int(summary.version)

        def build(tx: TransactWrite) -> None:
            tx.update(
                M(summary.owner_id, summary.manifest_id),
                actions=[M.frozen_version.set(version)],
                condition=live_condition()
                & (M.revision == seen_revision)
                & (M.version == version)
                & (M.frozen_version < version),
            )
            tx.save(summary, condition=V.version.does_not_exist())
            for key, count in sorted(hold.items()):
                tx.update(R(key), actions=[R.ref_count.add(count)], condition=R.ref_count > 0)

        def committed() -> bool:
            """Our own write, after a lost answer: the item names our (unique) body."""
            stored = self.get(summary.manifest_id, version)
            return stored is not None and stored.body_key == summary.body_key

        transact(build, token=new_write_token(), committed=committed)

    def hold_images(self, object_keys: list[str]) -> None:
        """Take one reference per image, before a freeze of a version with more
        distinct images than its own transaction holds, so its images are never
        deleted (versions are never deleted, so neither are these references).
        `ref_count > 0`: an image nobody shows any more is never revived; that
        only happens when the manifest changed since it was read, and then the
        freeze fails its revision condition anyway (raises `ConditionFailed`).
        A freeze that then fails leaks these references (the image is kept,
        never broken): the price of versions over 98 distinct images."""
        keys = sorted(set(object_keys))
        for start in range(0, len(keys), TRANSACTION_ITEMS):
            chunk = keys[start : start + TRANSACTION_ITEMS]

            def build(tx: TransactWrite, chunk: list[str] = chunk) -> None:
                for key in chunk:
                    tx.update(
                        R(key),
                        actions=[R.ref_count.add(1)],
                        condition=R.object_key.exists() & (R.ref_count > 0),
                    )

            transact(build)

    def restore(
        self,
        manifest: ManifestModel,
        fields: dict[str, Any],
        cleared: list[str],
        plan: RestorePlan,
        asset_count: int,
        now: str,
        *,
        also: Callable[[TransactWrite], None],
    ) -> tuple[ManifestModel, dict[str, AssetModel]]:
        """Write a restore in one transaction: the manifest (fields, exact
        asset_count, listing keys, copy-on-write), conditioned on the revision
        the plan was made from; each asset conditioned on the revision it was
        read at (or on not existing); image references for re-appearing images.
        Raises `ConditionFailed` when anything moved. Returns the manifest and
        the assets as written (exact: every write required the revision read)."""
        owner_id, manifest_id = manifest.owner_id, manifest.manifest_id
        restored = ManifestModel(owner_id, manifest_id, **{**manifest.attribute_values, **fields})
        for name in cleared:
            setattr(restored, name, None)
        restored.updated_at = now
        restored.asset_count = asset_count
        listing = listing_attributes(restored)
        token = new_write_token()
        actions: list[Action] = [*content_changed(), M.updated_at.set(now), M.write_token.set(token)]
        actions += [getattr(M, k).set(v) for k, v in fields.items() if v is not None]
        actions += [getattr(M, k).remove() for k in cleared]
        actions += [getattr(M, k).set(v) for k, v in listing.items()]
        actions.append(M.asset_count.set(restored.asset_count))
        restored.revision = int(manifest.revision) + 1
        restored.version = int(manifest.frozen_version or 0) + 1
        restored.write_token = token
        for key, value in listing.items():
            setattr(restored, key, value)
        written = {
            a.asset_id: AssetModel(**{**a.attribute_values, "revision": 1, "updated_at": now})
            for a in plan.create
        }
        for existing, asset in plan.overwrite:
            values = {**asset.attribute_values, "revision": int(existing.revision) + 1, "updated_at": now}
            written[asset.asset_id] = AssetModel(**values)

        def build(tx: TransactWrite) -> None:
            tx.update(
                M(owner_id, manifest_id),
                actions=actions,
                condition=live_condition() & (M.revision == int(manifest.revision)),
            )
            for asset in plan.create:
                tx.save(written[asset.asset_id], condition=A.asset_id.does_not_exist())
                tx.save(
                    L(asset.asset_id, owner_id=owner_id, manifest_id=manifest_id),
                    condition=L.asset_id.does_not_exist(),
                )
            for existing, _asset in plan.overwrite:
                tx.save(written[existing.asset_id], condition=A.revision == int(existing.revision))
            for asset in plan.delete:
                tx.delete(asset, condition=A.revision == int(asset.revision))
                tx.delete(L(asset.asset_id))
            for key, count in plan.acquire.items():
                tx.update(R(key), actions=[R.ref_count.add(count)], condition=R.ref_count > 0)
            also(tx)  # the releases of images leaving the working copy

        def committed() -> bool:
            try:
                stored = M.get(owner_id, manifest_id, consistent_read=True)
            except DoesNotExist:
                return False
            return stored.write_token == token

        transact(build, token=token, committed=committed)
        return restored, written

    # --- transactional pieces used by the project repository -----------------------

    def tx_pin(self, tx: TransactWrite, manifest_id: str, version: int) -> None:
        """Count a pin, only on a version that is frozen (its item exists)."""
        tx.update(V(manifest_id, version), actions=[V.pinned_by.add(1)], condition=V.version.exists())

    def tx_unpin(self, tx: TransactWrite, manifest_id: str, version: int) -> None:
        tx.update(
            V(manifest_id, version),
            actions=[V.pinned_by.add(-1)],
            condition=V.version.exists() & (V.pinned_by > 0),
        )
