"""Manifest use cases: the rules live here, persistence in the repositories."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib import config, cursors
from chalicelib.errors import ConflictError
from chalicelib.models import AssetModel, ManifestModel
from chalicelib.repositories.assets import AssetRepository
from chalicelib.repositories.base import utcnow
from chalicelib.repositories.manifests import ManifestRepository
from chalicelib.repositories.projects import ProjectRepository
from chalicelib.schemas import (
    TAG_PREFIXES,
    ManifestCreate,
    ManifestListQuery,
    ManifestUpdate,
)
from chalicelib.services.images import ImageLifecycle
from chalicelib.services.versions import VersionService

log = logging.getLogger(__name__)

COPY_SUFFIX = " (Copy)"
NAME_MAX = 200
# Longer than the longest a Lambda can run, so a duplicate still being copied
# is never swept from under a live request.
PENDING_DUPLICATE_TTL = timedelta(minutes=20)
CONFLICT_PROJECT_IDS_SHOWN = 100


class ManifestService:
    def __init__(
        self,
        manifests: ManifestRepository,
        assets: AssetRepository,
        projects: ProjectRepository,
        images: ImageLifecycle,
        versions: VersionService,
    ) -> None:
        self._versions = versions
        self._manifests = manifests
        self._assets = assets
        self._projects = projects
        self._images = images

    def create(self, owner_id: str, data: ManifestCreate) -> ManifestModel:
        now = utcnow()
        manifest = ManifestModel(
            owner_id,
            str(uuid.uuid4()),
            name=data.name,
            description=data.description,
            category=data.category.value,
            tags=list(data.tags),
            status="DRAFT",
            asset_count=0,
            times_used=0,
            version=1,
            revision=1,
            ref_count=0,
            tag_seq={prefix: 0 for prefix in TAG_PREFIXES.values()},
            created_at=now,
            updated_at=now,
        )
        self._manifests.add(manifest)
        return manifest

    def list_page(self, owner_id: str, query: ManifestListQuery) -> tuple[list[ManifestModel], str | None]:
        """One page of `limit` manifests, or without `limit` the whole library up
        to the cap: one index Query of cap+1 keys, then BatchGetItem per 100
        (see ARCHITECTURE.md for the cost). The cursor scope leaves out `limit`,
        so a cursor from either form continues in either form."""
        scope = "|".join(
            [
                "manifests",
                query.category.value if query.category else "",
                query.status.value if query.status else "",
                query.sort_by,
                query.sort_order,
            ]
        )
        start = cursors.decode(query.cursor, owner_id, scope) if query.cursor else None
        items, next_key = self._manifests.page(
            owner_id,
            category=query.category.value if query.category else None,
            status=query.status.value if query.status else None,
            sort_by=query.sort_by,
            ascending=query.sort_order == "asc",
            limit=query.limit if query.limit is not None else config.library_cap(),
            start_key=start,
        )
        return items, cursors.encode(next_key, owner_id, scope) if next_key else None

    def get_detail(self, owner_id: str, manifest_id: str) -> tuple[ManifestModel, list[AssetModel]]:
        manifest = self._manifests.get_live(owner_id, manifest_id)
        return manifest, self._assets.list_for_manifest(manifest_id)

    def update(
        self, owner_id: str, manifest_id: str, data: ManifestUpdate, expected_revision: int | None = None
    ) -> ManifestModel:
        changes: dict[str, Any] = {}
        for field in data.model_fields_set:
            value = getattr(data, field)
            changes[field] = value.value if hasattr(value, "value") else value
        if "tags" in changes:
            changes["tags"] = list(changes["tags"])
        return self._manifests.update(owner_id, manifest_id, changes, utcnow(), expected_revision)

    def delete(self, owner_id: str, manifest_id: str, expected_revision: int | None = None) -> None:
        """Soft delete, refused while any live project references the manifest.

        The decision comes from the reference count on the manifest item (kept
        by the attach/detach transactions), never from the projects GSI; the
        GSI only lists which projects to show in the 409 body.
        """
        if self._manifests.soft_delete(owner_id, manifest_id, utcnow(), expected_revision):
            return
        manifest = self._manifests.get_live(owner_id, manifest_id)
        projects, _ = self._projects.page_for_manifest(
            owner_id, manifest_id, limit=CONFLICT_PROJECT_IDS_SHOWN, start_key=None
        )
        raise ConflictError(
            "Manifest is referenced by projects",
            project_count=int(manifest.ref_count),
            project_ids=[p.project_id for p in projects],
        )

    def duplicate(
        self,
        owner_id: str,
        manifest_id: str,
        name: str | None,
        pending_ttl: timedelta = PENDING_DUPLICATE_TTL,
        version: int | None = None,
    ) -> ManifestModel:
        """Copy a manifest and all its assets; the copy is invisible until complete.

        Steps, each resumable or undoable by whoever comes next:
        1. the copy is written pending (absent from every listing index, 404)
           with a deadline; 2. each image's references are taken in a transaction
        that also records them on the copy (`held_refs`; an image released since
        the listing is dropped from the copy); 3. its assets are batch-written
        (holding no references of their own while the copy is pending);
        4. one conditional write publishes it (and drops `held_refs`: the
        published assets now own the references). On failure the copy is retired
        and removed here, unless it turns out to be published (a lost answer),
        in which case the client gets it; if the process dies, the sweep removes
        it after its deadline. Nothing removes a published copy's assets.
        """
        # The assets before the source item: every copied tag number was
        # allocated (on the source's counter) before its asset was written, so a
        # counter read after the listing covers them all (tested by
        # test_a_copy_never_reissues_a_tag_of_an_asset_created_during_the_copy).
        if version is None:
            assets = self._assets.list_for_manifest(manifest_id)
            source = self._manifests.get_live(owner_id, manifest_id)
        else:
            # A frozen version's content; the tag counters stay the live ones (read
            # after the version, they are at least every tag it holds), so the
            # copy never reissues one. Its images are held by the version, so
            # their references can always be taken.
            snap = self._versions.get(owner_id, manifest_id, version)
            source, assets = snap.manifest, snap.assets
            source.tag_seq = self._manifests.get_live(owner_id, manifest_id).tag_seq
        now = utcnow()
        if name is None:
            name = source.name[: NAME_MAX - len(COPY_SUFFIX)] + COPY_SUFFIX
        copy = ManifestModel(
            owner_id,
            str(uuid.uuid4()),
            name=name,
            description=source.description,
            category=source.category,
            tags=list(source.tags or []),
            status="DRAFT",
            asset_count=len(assets),
            times_used=0,
            version=1,
            revision=1,
            ref_count=0,
            tag_seq=copied_tag_counters(source.tag_seq.as_dict() if source.tag_seq else {}, assets),
            created_at=now,
            updated_at=now,
            parent_manifest_id=source.manifest_id,
        )
        copies = [_copy_asset(a, copy) for a in assets]
        deadline = (datetime.now(UTC) + pending_ttl).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        self._manifests.add_pending(copy, deadline)
        try:
            gone = self._images.share(owner_id, copy.manifest_id, copies)
            for asset in copies:
                if asset.reference_image_key in gone:
                    # Released since the listing: the copy shows no image there.
                    asset.reference_image_key = None
                    asset.thumbnail_key = None
            # Written once, in their final form (a late replay of a timed-out batch
            # carries the same items).
            self._assets.put_many(copies)
            copy.thumbnail_key = next((a.thumbnail_key for a in copies if a.thumbnail_key), None)
            self._manifests.publish_pending(copy)
        except Exception:
            if self._undo_duplicate(owner_id, copy.manifest_id) == "published":
                return self._manifests.get_live(owner_id, copy.manifest_id)
            raise
        return copy

    def _undo_duplicate(self, owner_id: str, manifest_id: str) -> str:
        """Roll back a failed duplicate; a failure of the rollback itself is left
        to the sweep (the copy stays pending, invisible, until its deadline)."""
        try:
            return self.discard_unfinished(owner_id, manifest_id)
        except Exception:
            log.warning("duplicate %s not rolled back; left for the sweep", manifest_id, exc_info=True)
            return "left"

    def discard_unfinished(self, owner_id: str, manifest_id: str, due_before: str | None = None) -> str:
        """Remove an unfinished copy: retire it (conditional: never a published
        copy, and with `due_before` only one past its deadline), then its assets,
        then exactly the references it recorded, then the item. Every step can be
        repeated, so a crash anywhere leaves a retired copy the sweep finishes."""
        outcome = self._manifests.retire_pending(owner_id, manifest_id, due_before)
        if outcome != "retired":
            return outcome
        self._assets.delete_all(manifest_id)
        retired = self._manifests.get(owner_id, manifest_id)
        if retired is not None:
            self._images.release_held(owner_id, manifest_id, retired.held_refs)
        self._manifests.delete_pending(owner_id, manifest_id)
        return "removed"

    def sweep_abandoned_duplicates(self, now: str | None = None) -> int:
        """Remove duplicates whose copying process died (scheduled; also callable).

        The `pending` index only proposes candidates; each is retired by a write
        conditioned on the base item still being pending past its deadline."""
        now = now or utcnow()
        swept = 0
        for candidate in self._manifests.expired_pending(now):
            outcome = self.discard_unfinished(candidate.owner_id, candidate.manifest_id, due_before=now)
            swept += outcome == "removed"
        return swept


def copied_tag_counters(counters: dict[str, Any], assets: list[AssetModel]) -> dict[str, int]:
    """A copy's counter per prefix: at least every copied tag number, so the copy
    never hands out a number one of its assets already holds."""
    result = {prefix: int(n) for prefix, n in counters.items()}
    for asset in assets:
        prefix, _, number = (asset.manifest_tag or "").rpartition("_")
        if prefix and number.isdigit():
            result[prefix] = max(result.get(prefix, 0), int(number))
    return result


def _copy_asset(asset: AssetModel, manifest: ManifestModel) -> AssetModel:
    values = dict(asset.attribute_values)
    values.update(manifest_id=manifest.manifest_id, asset_id=str(uuid.uuid4()), revision=1)
    return AssetModel(**values)
