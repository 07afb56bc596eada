"""Asset persistence. Every write that adds or removes an asset changes the
manifest's asset_count in the same transaction, so the count is exact."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pynamodb.exceptions import DoesNotExist
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from chalicelib.errors import NotFoundError, PreconditionFailedError
from chalicelib.models import AssetLocatorModel, AssetModel
from chalicelib.repositories.base import (
    ConditionFailed,
    new_write_token,
    transact,
    translate_errors,
)
from chalicelib.repositories.manifests import ManifestRepository

A = AssetModel
L = AssetLocatorModel


@translate_errors
class AssetRepository:
    def __init__(self, manifests: ManifestRepository) -> None:
        self._manifests = manifests

    def create(self, asset: AssetModel, now: str, max_assets: int) -> None:
        """Put the asset, its locator and the manifest's count change atomically.

        Raises `ConditionFailed` when the manifest is no longer live or full. A
        retry whose first attempt committed is recognised by its token, and a
        failed condition by reading whether this asset (a fresh id) now exists.
        """
        locator = L(asset.asset_id, owner_id=asset.owner_id, manifest_id=asset.manifest_id)

        def build(tx: TransactWrite) -> None:
            tx.save(asset, condition=A.asset_id.does_not_exist())
            tx.save(locator, condition=L.asset_id.does_not_exist())
            self._manifests.tx_asset_added(
                tx, asset.owner_id, asset.manifest_id, now, +1, max_assets=max_assets
            )

        transact(build, committed=lambda: self.get(asset.manifest_id, asset.asset_id) is not None)

    def locate(self, asset_id: str) -> AssetLocatorModel | None:
        try:
            return L.get(asset_id, consistent_read=True)
        except DoesNotExist:
            return None

    def get(self, manifest_id: str, asset_id: str) -> AssetModel | None:
        try:
            return A.get(manifest_id, asset_id, consistent_read=True)
        except DoesNotExist:
            return None

    def list_for_manifest(self, manifest_id: str) -> list[AssetModel]:
        """All assets of a manifest (bounded by the per-manifest limit), in display order."""
        assets = list(A.query(manifest_id, consistent_read=True))
        assets.sort(key=lambda a: (a.sort_order, a.created_at, a.asset_id))
        return assets

    def update(
        self, seen: AssetModel, changes: dict[str, Any], now: str, expected_revision: int
    ) -> AssetModel:
        """Write `changes` to the asset as `seen` (at `expected_revision`), and move
        the manifest's revision (and its working version, copy-on-write) in the
        same transaction: a freeze never holds half of it, and a frozen version
        never changes. One call, as before; the answer is `seen` with the changes,
        exact because the write required that revision. A lost answer is settled
        by the token (and by reading the asset's `write_token`)."""
        token = new_write_token()
        actions: list[Action] = [A.updated_at.set(now), A.revision.add(1)]
        for field, value in changes.items():
            attr = getattr(A, field)
            actions.append(attr.remove() if value is None else attr.set(value))
        condition = A.asset_id.exists() & (A.revision == expected_revision)
        item = A(seen.manifest_id, seen.asset_id)

        def build(tx: TransactWrite) -> None:
            tx.update(item, actions=[*actions, A.write_token.set(token)], condition=condition)
            self._manifests.tx_bump_revision(tx, seen.owner_id, seen.manifest_id)

        def committed() -> bool:
            current = self.get(seen.manifest_id, seen.asset_id)
            return current is not None and current.write_token == token

        try:
            transact(build, token=token, committed=committed)
        except ConditionFailed as exc:
            if exc.failed == [1]:  # only the manifest's: it is gone
                raise NotFoundError("Asset not found") from exc
            raise self._refusal(self.get(seen.manifest_id, seen.asset_id)) from exc
        values = dict(seen.attribute_values)
        values.update(changes, updated_at=now, revision=expected_revision + 1, write_token=token)
        return AssetModel(**{k: v for k, v in values.items() if v is not None})

    @staticmethod
    def _refusal(current: AssetModel | None) -> Exception:
        if current is None:
            return NotFoundError("Asset not found")
        return PreconditionFailedError("The asset has changed", revision=int(current.revision))

    def delete(
        self,
        owner_id: str,
        manifest_id: str,
        asset_id: str,
        now: str,
        expected_revision: int | None = None,
        *,
        image_key: str | None = None,
        also: Callable[[TransactWrite], None] | None = None,
    ) -> None:
        """Delete the asset and its locator and decrement the count, atomically.

        The asset must still point at `image_key`, so `also` (the release of
        that image's reference) releases exactly what the deleted asset held. The
        `exists` condition makes a second delete fail instead of decrementing the
        count twice; this request's own retry is recognised by its ClientRequestToken."""
        condition = A.asset_id.exists()
        if expected_revision is not None:
            condition &= A.revision == expected_revision
        if image_key:
            condition &= A.reference_image_key == image_key
        else:
            condition &= A.reference_image_key.does_not_exist()

        def build(tx: TransactWrite) -> None:
            tx.delete(A(manifest_id, asset_id), condition=condition)
            tx.delete(L(asset_id))
            self._manifests.tx_asset_added(tx, owner_id, manifest_id, now, -1)
            if also is not None:
                also(tx)

        transact(build)

    def put_many(self, assets: list[AssetModel]) -> None:
        """Unconditional batch write, for copies under a manifest nobody can see yet."""
        with A.batch_write() as batch:
            for asset in assets:
                batch.save(asset)
        with L.batch_write() as batch:
            for asset in assets:
                batch.save(L(asset.asset_id, owner_id=asset.owner_id, manifest_id=asset.manifest_id))

    def delete_all(self, manifest_id: str) -> list[AssetModel]:
        """Remove every asset (and locator) of an unpublished duplicate."""
        assets = list(A.query(manifest_id, consistent_read=True))
        with L.batch_write() as batch:
            for asset in assets:
                batch.delete(L(asset.asset_id))
        with A.batch_write() as batch:
            for asset in assets:
                batch.delete(asset)
        return assets
