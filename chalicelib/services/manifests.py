"""Manifest use cases: the rules live here, persistence in the repositories."""

from __future__ import annotations

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
        self, owner_id: str, manifest_id: str, name: str | None, version: int | None = None
    ) -> ManifestModel:
        """Copy a manifest and all its assets; the copy is invisible until complete.

        The copy is written as a pending item (absent from every listing index and
        answered 404), its assets are batch-written, and one conditional write then
        publishes it. On failure the partial copy is removed here; if the process
        dies instead, `sweep_abandoned_duplicates` removes it after its deadline.
        """
        live = self._manifests.get_live(owner_id, manifest_id)
        if version is None:
            source, assets = live, self._assets.list_for_manifest(manifest_id)
        else:
            # A frozen version's content; the tag counters stay the live ones (they
            # are at least every tag the version holds, so the copy never reissues one).
            snap = self._versions.get(owner_id, manifest_id, version)
            source, assets = snap.manifest, snap.assets
            source.tag_seq = live.tag_seq
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
            tag_seq=source.tag_seq.as_dict() if source.tag_seq else {},
            created_at=now,
            updated_at=now,
            parent_manifest_id=source.manifest_id,
        )
        copies = [_copy_asset(a, copy) for a in assets]
        # Copies share the (immutable) image objects: take their references before
        # any copy exists. A crash from here on can only leak a reference (the
        # object is kept), never break an image.
        self._images.share(copies)
        copy.thumbnail_key = next((a.thumbnail_key for a in copies if a.thumbnail_key), None)
        deadline = (datetime.now(UTC) + PENDING_DUPLICATE_TTL).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        self._manifests.add_pending(copy, deadline)
        try:
            self._assets.put_many(copies)
            self._manifests.publish_pending(copy)
        except Exception:
            self._discard_pending(owner_id, copy.manifest_id)
            raise
        return copy

    def _discard_pending(self, owner_id: str, manifest_id: str) -> None:
        self._manifests.retire_pending(owner_id, manifest_id)
        removed = self._assets.delete_all(manifest_id)
        self._images.release_all(removed)
        self._manifests.delete_pending(owner_id, manifest_id)

    def sweep_abandoned_duplicates(self) -> int:
        """Remove duplicates whose copying process died (scheduled; also callable)."""
        swept = 0
        for pending in self._manifests.expired_pending(utcnow()):
            self._discard_pending(pending.owner_id, pending.manifest_id)
            swept += 1
        return swept


def _copy_asset(asset: AssetModel, manifest: ManifestModel) -> AssetModel:
    values = dict(asset.attribute_values)
    values.update(manifest_id=manifest.manifest_id, asset_id=str(uuid.uuid4()), revision=1)
    return AssetModel(**values)
