"""Asset use cases: tags, counts, and resolving an asset through its live manifest."""

from __future__ import annotations

import uuid
from typing import Any

from pynamodb.transactions import TransactWrite

from chalicelib import config
from chalicelib.errors import ConflictError, LimitExceededError, NotFoundError, PreconditionFailedError
from chalicelib.models import AssetModel, ImageRefModel, ManifestModel
from chalicelib.repositories.assets import AssetRepository
from chalicelib.repositories.base import ConditionFailed, utcnow
from chalicelib.repositories.manifests import ManifestRepository
from chalicelib.repositories.uploads import ImageRefRepository
from chalicelib.schemas import TAG_PREFIXES, AssetCreate, AssetUpdate
from chalicelib.services.images import ImageLifecycle

RACE_ATTEMPTS = 3
# Attempts when an asset's image (or that image's reference count) changes
# between the read and the write that releases it.
MAX_IMAGE_RACES = 5


def format_tag(prefix: str, number: int) -> str:
    """PREFIX_NN with at least two digits: CHAR_01 ... CHAR_99, CHAR_100."""
    return f"{prefix}_{number:02d}"


class AssetService:
    def __init__(
        self,
        manifests: ManifestRepository,
        assets: AssetRepository,
        images: ImageLifecycle,
        refs: ImageRefRepository,
    ) -> None:
        self._manifests = manifests
        self._assets = assets
        self._images = images
        self._refs = refs

    def _allocate_tag(
        self, owner_id: str, manifest_id: str, asset_type: str, max_assets: int | None = None
    ) -> str:
        prefix = TAG_PREFIXES[asset_type]
        number = self._manifests.allocate_tag_number(owner_id, manifest_id, prefix, max_assets)
        return format_tag(prefix, number)

    def create(self, owner_id: str, manifest_id: str, data: AssetCreate) -> AssetModel:
        """Two DynamoDB calls: the tag allocation (an atomic ADD on the manifest,
        conditioned on a live manifest with room, answering 404 or 409 itself), then
        one transaction writing the asset, its locator and the manifest's
        asset_count with the same conditions. Tags come from a counter that only
        grows, so a deleted asset's tag is never handed out again."""
        max_assets = config.max_assets_per_manifest()
        tag = self._allocate_tag(owner_id, manifest_id, data.asset_type.value, max_assets)
        now = utcnow()
        asset = AssetModel(
            manifest_id,
            str(uuid.uuid4()),
            owner_id=owner_id,
            asset_type=data.asset_type.value,
            name=data.name,
            manifest_tag=tag,
            user_tags=list(data.user_tags),
            description=data.description,
            source="uploaded",
            sort_order=0,
            created_at=now,
            updated_at=now,
            revision=1,
            is_face_crop=False,
        )
        for _attempt in range(RACE_ATTEMPTS):
            try:
                self._assets.create(asset, now, max_assets)
                return asset
            except ConditionFailed as exc:
                # The asset is not stored (its own write was ruled out): the manifest
                # was deleted or filled up since the allocation. Say which.
                manifest = self._manifests.get_live(owner_id, manifest_id)
                if int(manifest.asset_count) >= max_assets:
                    raise LimitExceededError(f"A manifest holds at most {max_assets} assets") from exc
        raise ConflictError("The manifest is being changed concurrently; retry")

    def list_for_manifest(self, owner_id: str, manifest_id: str) -> list[AssetModel]:
        self._manifests.get_live(owner_id, manifest_id)
        return self._assets.list_for_manifest(manifest_id)

    def resolve(
        self, owner_id: str, asset_id: str, manifest_id: str | None = None
    ) -> tuple[ManifestModel, AssetModel]:
        """The asset and its live manifest, or 404 for unknown, foreign or deleted."""
        if manifest_id is None:
            locator = self._assets.locate(asset_id)
            if locator is None or locator.owner_id != owner_id:
                raise NotFoundError("Asset not found")
            manifest_id = locator.manifest_id
        try:
            manifest = self._manifests.get_live(owner_id, manifest_id)
        except NotFoundError:
            raise NotFoundError("Asset not found") from None
        asset = self._assets.get(manifest_id, asset_id)
        if asset is None or asset.owner_id != owner_id:
            raise NotFoundError("Asset not found")
        return manifest, asset

    def get(self, owner_id: str, asset_id: str, manifest_id: str | None = None) -> AssetModel:
        return self.resolve(owner_id, asset_id, manifest_id)[1]

    def image_key(self, owner_id: str, asset_id: str, variant: str) -> str:
        """The stored object behind an asset's image (`original` or `thumbnail`);
        an asset without one is a 404, like an unknown or foreign asset."""
        asset = self.get(owner_id, asset_id)
        key = asset.thumbnail_key if variant == "thumbnail" else asset.reference_image_key
        if not key:
            raise NotFoundError("Asset has no image")
        return str(key)

    def update(
        self,
        owner_id: str,
        asset_id: str,
        data: AssetUpdate,
        manifest_id: str | None = None,
        expected_revision: int | None = None,
    ) -> AssetModel:
        for _attempt in range(RACE_ATTEMPTS):
            manifest, asset = self.resolve(owner_id, asset_id, manifest_id)
            changes: dict[str, Any] = {}
            for field in data.model_fields_set:
                value = getattr(data, field)
                changes[field] = value.value if hasattr(value, "value") else value
            if "user_tags" in changes:
                changes["user_tags"] = list(changes["user_tags"])
            if expected_revision is not None and int(asset.revision) != expected_revision:
                raise PreconditionFailedError("The asset has changed", revision=int(asset.revision))
            if "asset_type" in changes and changes["asset_type"] != asset.asset_type:
                changes["manifest_tag"] = self._allocate_tag(
                    owner_id, manifest.manifest_id, changes["asset_type"]
                )
            try:
                updated = self._assets.update(asset, changes, utcnow(), int(asset.revision))
            except PreconditionFailedError:
                if expected_revision is not None:
                    raise
                continue  # changed by another writer since our read: apply ours on top
            if "sort_order" in changes and updated.thumbnail_key:
                # The manifest shows its first asset image; reordering may change which.
                self._images.refresh_manifest_thumbnail(owner_id, manifest.manifest_id)
            return updated
        raise ConflictError("The asset is being changed concurrently; retry")

    def delete(
        self,
        owner_id: str,
        asset_id: str,
        manifest_id: str | None = None,
        expected_revision: int | None = None,
    ) -> None:
        """The asset, its locator, the count and the release of its image's
        reference go in one transaction: no crash can leave a reference nobody
        holds. The objects are deleted after the commit when that was the last
        reference (or by the sweep of released images if this request dies)."""
        for _attempt in range(MAX_IMAGE_RACES):
            manifest, asset = self.resolve(owner_id, asset_id, manifest_id)
            image_key = asset.reference_image_key
            seen = self._images.current_ref(image_key)
            released: list[bool] = []
            now = utcnow()

            def release(
                tx: TransactWrite,
                seen: ImageRefModel | None = seen,
                now: str = now,
                released: list[bool] = released,
            ) -> None:
                if seen is not None and int(seen.ref_count) > 0:
                    released[:] = [self._refs.tx_release(tx, seen, 1, now)]

            try:
                self._assets.delete(
                    owner_id,
                    manifest.manifest_id,
                    asset_id,
                    now,
                    expected_revision,
                    image_key=image_key,
                    also=release,
                )
            except ConditionFailed as exc:
                current = self._assets.get(manifest.manifest_id, asset_id)
                if current is None:
                    # Deleted concurrently (asset or manifest): either way it is gone.
                    raise NotFoundError("Asset not found") from exc
                if expected_revision is not None and int(current.revision) != expected_revision:
                    raise PreconditionFailedError(
                        "The asset has changed", revision=int(current.revision)
                    ) from exc
                continue  # its image or the image's count moved since the read: again
            self._images.refresh_manifest_thumbnail(owner_id, manifest.manifest_id)
            if released and released[0] and seen is not None:
                self._images.collect_after_commit(seen)
            return
        raise ConflictError("The asset's image is being changed concurrently; retry")
