"""Image object lifecycle: sharing between duplicated manifests, the manifest
thumbnail derived from its assets, and deleting objects nobody shows any more.

Order matters for "never break an image another manifest shows": references
are acquired before an asset points at an image, and released only after the
asset no longer does.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from chalicelib.models import AssetModel
from chalicelib.repositories.assets import AssetRepository
from chalicelib.repositories.manifests import ManifestRepository
from chalicelib.repositories.uploads import ImageRefRepository
from chalicelib.storage import Storage


class ImageLifecycle:
    def __init__(
        self,
        manifests: ManifestRepository,
        assets: AssetRepository,
        refs: ImageRefRepository,
        store: Storage,
    ) -> None:
        self._manifests = manifests
        self._assets = assets
        self._refs = refs
        self._store = store

    def refresh_manifest_thumbnail(self, owner_id: str, manifest_id: str) -> None:
        """The manifest's thumbnail is its first asset image by display order.

        Written only if the manifest's revision is unchanged since it was read;
        every change that can move the first image bumps the revision and
        recomputes after itself, so the last one wins with the right answer.
        """
        manifest = self._manifests.get(owner_id, manifest_id)
        if manifest is None or manifest.deleted_at or manifest.pending_until:
            return
        first = next(
            (a.thumbnail_key for a in self._assets.list_for_manifest(manifest_id) if a.thumbnail_key),
            None,
        )
        if first != manifest.thumbnail_key:
            self._manifests.set_thumbnail(owner_id, manifest_id, first, int(manifest.revision))

    def release(self, object_key: str | None) -> None:
        if not object_key:
            return
        last = self._refs.release(object_key)
        if last is not None:
            self._store.delete(last.object_key, last.thumbnail_key)

    def release_all(self, assets: Iterable[AssetModel]) -> None:
        for asset in assets:
            self.release(asset.reference_image_key)

    def share(self, assets: list[AssetModel]) -> None:
        """Take references for copies of `assets` (before the copies exist). An
        image whose last reference went away meanwhile is dropped from the copy."""
        counts = Counter(a.reference_image_key for a in assets if a.reference_image_key)
        gone = {key for key, n in counts.items() if key and not self._refs.acquire(key, n)}
        for asset in assets:
            if asset.reference_image_key in gone:
                asset.reference_image_key = None
                asset.thumbnail_key = None

    def after_asset_removed(self, owner_id: str, manifest_id: str, asset: AssetModel) -> None:
        self.refresh_manifest_thumbnail(owner_id, manifest_id)
        self.release(asset.reference_image_key)
