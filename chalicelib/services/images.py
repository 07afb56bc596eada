"""Image object lifecycle: sharing between duplicated manifests, the manifest
thumbnail derived from its assets, and deleting objects nobody shows any more.

Order matters for "never break an image another manifest shows": references
are acquired before an asset that anybody can see points at an image, and
released in the same transaction that stops an asset pointing at it. A record
at 0 is final (nothing acquires it again), so its objects can be deleted; if
the request that reached 0 dies before deleting them, `sweep_released` does.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, datetime, timedelta

from chalicelib.models import AssetModel, ImageRefModel
from chalicelib.repositories.assets import AssetRepository
from chalicelib.repositories.base import utcnow
from chalicelib.repositories.manifests import ManifestRepository
from chalicelib.repositories.uploads import ImageRefRepository
from chalicelib.storage import Storage

log = logging.getLogger(__name__)

# A record that reached 0 is normally collected by the request that released it
# within seconds; the sweep leaves it that long before stepping in.
RELEASED_GRACE = timedelta(minutes=5)


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

    def current_ref(self, object_key: str | None) -> ImageRefModel | None:
        """The reference record, read consistently, for a release inside another write."""
        return self._refs.get(object_key) if object_key else None

    # --- duplicates ----------------------------------------------------------------

    def share(self, owner_id: str, copy_id: str, copies: list[AssetModel]) -> set[str]:
        """Take the references for a pending copy's assets, each recorded on the
        copy in the same transaction (so its removal releases exactly those). Returns
        the images nobody shows any more (their copies must drop them). Raises
        ConflictError when the copy was retired meanwhile."""
        counts = Counter(a.reference_image_key for a in copies if a.reference_image_key)
        return {
            key
            for key, n in counts.items()
            if key and not self._refs.acquire_for_pending(owner_id, copy_id, key, n)
        }

    def release_held(self, owner_id: str, copy_id: str, held: set[str] | None) -> None:
        """Give back exactly the references a retired copy recorded (its assets are gone)."""
        for entry in sorted(held or ()):
            self.collect_after_commit(self._refs.release_held(owner_id, copy_id, entry, utcnow()))

    # --- collecting images nobody shows -------------------------------------------------

    def collect(self, ref: ImageRefModel) -> None:
        """Objects first, then the record (conditional on 0): a crash in between
        leaves the record listed in `released` for the sweep."""
        self._store.delete(ref.object_key, ref.thumbnail_key)
        self._refs.delete_released(ref)

    def collect_after_commit(self, ref: ImageRefModel | None) -> None:
        """Best effort once the request's own write has committed: a failure here
        is the sweep's to finish, never reported as the request's failure."""
        if ref is None:
            return
        try:
            self.collect(ref)
        except Exception:
            log.warning("image %s released; objects left for the sweep", ref.object_key, exc_info=True)

    def sweep_released(self, now: datetime | None = None) -> int:
        """Delete objects and records that reached 0 and were not collected
        (the releasing request died). Each record is re-read before acting."""
        cutoff = ((now or datetime.now(UTC)) - RELEASED_GRACE).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        collected = 0
        for key in self._refs.released_before(cutoff):
            ref = self._refs.get(key)
            if ref is None or int(ref.ref_count) != 0 or not ref.zero_since:
                continue
            self.collect(ref)
            collected += 1
        return collected
