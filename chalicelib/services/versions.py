"""Manifest versions: freezing the working version, reading frozen ones, diff,
restore, and the pinned read a pipeline worker makes.

A frozen version is a summary item (`VersionModel`) plus an immutable body in
S3: the manifest's fields and every asset, as DynamoDB-typed JSON, written
before the freeze commits under a key unique to that attempt (so a freeze that
loses its race never touches a committed body, and can delete its own).
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from pynamodb.transactions import TransactWrite

from chalicelib import cursors
from chalicelib.errors import ConflictError, NotFoundError, ServiceUnavailableError, ValidationFailedError
from chalicelib.models import AssetModel, ImageRefModel, ManifestModel, VersionModel
from chalicelib.repositories.assets import AssetRepository
from chalicelib.repositories.base import ConditionFailed, utcnow
from chalicelib.repositories.manifests import ManifestRepository
from chalicelib.repositories.projects import ProjectRepository
from chalicelib.repositories.uploads import ImageRefRepository
from chalicelib.repositories.versions import HELD_IN_FREEZE, VersionRepository
from chalicelib.schemas import VersionListQuery
from chalicelib.services.images import ImageLifecycle
from chalicelib.storage import Storage

log = logging.getLogger(__name__)

BODY_FORMAT = 1
FREEZE_ATTEMPTS = 5
# Bookkeeping that is not the manifest's content (indexes, counters of use,
# markers of in-flight work); everything else is frozen as it is.
NOT_CONTENT = frozenset(
    {
        "s_upd",
        "s_crt",
        "s_name",
        "s_used",
        "s_count",
        "p_cat",
        "p_st",
        "p_cs",
        "pending_gsi_pk",
        "pending_until",
        "deleted_at",
        "ref_count",
        "frozen_version",
        "tag_seq",
        "write_token",
        "held_refs",
    }
)
ASSET_NOT_CONTENT = frozenset({"write_token"})
# Not compared by diff and not written by restore: identity, clocks, counters.
MANIFEST_IGNORED = NOT_CONTENT | {
    "owner_id",
    "manifest_id",
    "version",
    "revision",
    "created_at",
    "updated_at",
    "times_used",
    "last_used_at",
    "asset_count",
}
ASSET_IGNORED = ASSET_NOT_CONTENT | {
    "owner_id",
    "manifest_id",
    "asset_id",
    "revision",
    "created_at",
    "updated_at",
}
# Optional manifest fields a restore clears when the version did not have them.
RESTORABLE_OPTIONAL = tuple(
    name
    for name, attr in ManifestModel.get_attributes().items()
    if attr.null and name not in MANIFEST_IGNORED
)
RESTORE_MAX_ITEMS = 100  # one TransactWriteItems


def content(item: ManifestModel | AssetModel, ignored: frozenset[str]) -> dict[str, Any]:
    values = {}
    for k, v in item.attribute_values.items():
        if k in ignored or v is None:
            continue
        values[k] = v.as_dict() if hasattr(v, "as_dict") else (sorted(v) if isinstance(v, set) else v)
    return values


@dataclass
class Diff:
    manifest_changes: dict[str, Any]
    added: list[AssetModel]
    removed: list[AssetModel]
    changed: list[tuple[AssetModel, dict[str, Any]]]


@dataclass
class RestorePlan:
    """What a restore writes: assets to re-create, to overwrite (current, target),
    to delete, and image references to take (key -> count)."""

    create: list[AssetModel]
    overwrite: list[tuple[AssetModel, AssetModel]]
    delete: list[AssetModel]
    acquire: dict[str, int]
    release: dict[str, int]

    def size(self) -> int:
        items = 2 * len(self.create) + len(self.overwrite) + 2 * len(self.delete)
        return items + len(self.acquire) + len(self.release)


def plan_restore(current: list[AssetModel], target: list[AssetModel]) -> RestorePlan:
    now_by_id = {a.asset_id: a for a in current}
    target_ids = {a.asset_id for a in target}
    plan = RestorePlan([], [], [a for a in current if a.asset_id not in target_ids], {}, {})
    released: list[str] = []
    for asset in target:
        existing = now_by_id.get(asset.asset_id)
        gained: str | None = None
        if existing is None:
            plan.create.append(asset)
            gained = asset.reference_image_key
        elif content(existing, ASSET_IGNORED) != content(asset, ASSET_IGNORED):
            plan.overwrite.append((existing, asset))
            gained = (
                asset.reference_image_key
                if asset.reference_image_key != existing.reference_image_key
                else None
            )
            if existing.reference_image_key and existing.reference_image_key != asset.reference_image_key:
                released.append(existing.reference_image_key)
        if gained:
            plan.acquire[gained] = plan.acquire.get(gained, 0) + 1
    released += [a.reference_image_key for a in plan.delete if a.reference_image_key]
    # One image may leave with one asset and come back with another: net them
    # (a transaction may not touch one item twice).
    for key in released:
        plan.acquire[key] = plan.acquire.get(key, 0) - 1
    plan.release = {k: -n for k, n in plan.acquire.items() if n < 0}
    plan.acquire = {k: n for k, n in plan.acquire.items() if n > 0}
    return plan


def body_key(owner_prefix: str, manifest_id: str, version: int, revision: int) -> str:
    """Unique per attempt: a freeze that fails can delete its own body, and never
    touches one another attempt committed."""
    return f"versions/{owner_prefix}/{manifest_id}/{version}-r{revision}-{uuid.uuid4().hex[:12]}.json"


def owner_prefix(owner_id: str) -> str:
    """Same scheme as image keys: never the raw subject."""
    return hashlib.sha256(owner_id.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class Snapshot:
    """A manifest as of one version (or the working copy): what detail and diff show."""

    manifest: ManifestModel
    assets: list[AssetModel]


def encode_body(manifest: ManifestModel, assets: list[AssetModel]) -> bytes:
    """Deterministic for a given revision, so two freezes of it write the same bytes."""
    body = {
        "format": BODY_FORMAT,
        "manifest": {k: v for k, v in manifest.serialize().items() if k not in NOT_CONTENT},
        "assets": [{k: v for k, v in a.serialize().items() if k not in ASSET_NOT_CONTENT} for a in assets],
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def decode_body(data: bytes) -> Snapshot:
    body = json.loads(data)
    return Snapshot(
        ManifestModel.from_raw_data(body["manifest"]),
        [AssetModel.from_raw_data(a) for a in body["assets"]],
    )


def image_keys(assets: list[AssetModel]) -> list[str]:
    return [a.reference_image_key for a in assets if a.reference_image_key]


def not_frozen(version: int | str) -> NotFoundError:
    return NotFoundError(f"Version {version} is not a frozen version of this manifest")


class VersionService:
    def __init__(
        self,
        manifests: ManifestRepository,
        assets: AssetRepository,
        versions: VersionRepository,
        projects: ProjectRepository,
        images: ImageLifecycle,
        refs: ImageRefRepository,
        store: Storage,
    ) -> None:
        self._images = images
        self._refs = refs
        self._manifests = manifests
        self._assets = assets
        self._versions = versions
        self._projects = projects
        self._store = store

    # --- freezing ----------------------------------------------------------------

    def freeze(self, owner_id: str, manifest_id: str) -> tuple[VersionModel, bool]:
        """Freeze the working version; (summary, True) when this call froze it,
        (summary, False) when it already was frozen and unchanged.

        A consistent cut: the manifest is read first, then its assets; the freeze
        transaction requires the revision read first. Every content write (the
        manifest's fields, any asset, any image) moves that revision in its own
        transaction, so a write that landed between the two reads or before the
        commit fails the freeze, which starts over with a fresh read. A write
        after the commit finds `frozen_version == version` and moves the working
        version on. Tests (test_versions_failures.py):
        test_an_asset_write_landing_inside_a_freeze_is_wholly_in_that_version,
        test_an_asset_write_committing_after_a_freeze_starts_the_next_version.
        """
        for _attempt in range(FREEZE_ATTEMPTS):
            manifest = self._manifests.get_live(owner_id, manifest_id)
            version = int(manifest.version)
            if int(manifest.frozen_version or 0) >= version:
                summary = self._versions.get(manifest_id, version)
                if summary is not None:
                    return summary, False
            assets = self._assets.list_for_manifest(manifest_id)
            revision = int(manifest.revision)
            data = encode_body(manifest, assets)
            key = body_key(owner_prefix(owner_id), manifest_id, version, revision)
            self._store.write(key, data, "application/json")
            summary = VersionModel(
                manifest_id,
                version,
                owner_id=owner_id,
                name=manifest.name,
                asset_count=len(assets),
                created_at=utcnow(),
                revision=revision,
                body_key=key,
                body_sha256=hashlib.sha256(data).hexdigest(),
                pinned_by=0,
            )
            images = sorted(set(image_keys(assets)))
            held_before, held_in = images[HELD_IN_FREEZE:], images[:HELD_IN_FREEZE]
            try:
                if held_before:
                    self._versions.hold_images(held_before)
                self._versions.freeze(summary, revision, dict.fromkeys(held_in, 1))
            except ConditionFailed:
                # Not committed (a failed condition is definite): this attempt's
                # body is nobody's. Then read again.
                self._discard_body(key)
                continue
            return summary, True
        raise ConflictError("The manifest is being changed concurrently; retry")

    def _discard_body(self, key: str) -> None:
        """Best effort: a body left behind is unreferenced, never wrong."""
        try:
            self._store.delete(key)
        except ServiceUnavailableError:
            log.warning("version body %s left behind", key)

    # --- reading -----------------------------------------------------------------

    def summary(self, owner_id: str, manifest_id: str, version: int) -> VersionModel:
        self._manifests.get_live(owner_id, manifest_id)
        found = self._versions.get(manifest_id, version)
        if found is None or found.owner_id != owner_id:
            raise not_frozen(version)
        return found

    def list_page(
        self, owner_id: str, manifest_id: str, query: VersionListQuery
    ) -> tuple[list[VersionModel], str | None]:
        self._manifests.get_live(owner_id, manifest_id)
        scope = f"versions|{manifest_id}"
        start = cursors.decode(query.cursor, owner_id, scope) if query.cursor else None
        items, next_key = self._versions.page(manifest_id, limit=query.limit, start_key=start)
        return items, cursors.encode(next_key, owner_id, scope) if next_key else None

    def _body(self, found: VersionModel) -> Snapshot:
        data = self._store.read_object(found.body_key)
        if data is None:  # written before the item, never deleted: a broken invariant
            raise RuntimeError(f"version body {found.body_key} is missing")
        return decode_body(data)

    def get(self, owner_id: str, manifest_id: str, version: int) -> Snapshot:
        """The version exactly as frozen: 2 DynamoDB reads + 1 S3 GET."""
        return self._body(self.summary(owner_id, manifest_id, version))

    def snapshot(self, owner_id: str, manifest_id: str, ref: str) -> Snapshot:
        """`current` (the working copy) or a frozen version number."""
        if ref == "current":
            manifest = self._manifests.get_live(owner_id, manifest_id)
            return Snapshot(manifest, self._assets.list_for_manifest(manifest_id))
        return self.get(owner_id, manifest_id, int(ref))

    def pinned(self, owner_id: str, project_id: str) -> Snapshot:
        """What a pipeline worker renders: the version its project pins. One
        GetItem of the project, one of the version, one S3 GET, however many
        versions exist. A pinned manifest cannot be deleted (its ref_count)."""
        project = self._projects.get(owner_id, project_id)
        if project is None:
            raise NotFoundError("Project not found")
        if not project.manifest_id or project.manifest_version is None:
            raise NotFoundError("The project pins no manifest")
        found = self._versions.get(project.manifest_id, int(project.manifest_version))
        if found is None or found.owner_id != owner_id:
            raise not_frozen(int(project.manifest_version))
        return self._body(found)

    # --- pinning (projects) ---------------------------------------------------------

    def version_to_pin(self, owner_id: str, manifest_id: str, version: int | None) -> int:
        """The version a project may pin: the working version when none is named
        (frozen now), or a named one that is frozen or is the working version
        (then frozen now). Anything else is 422."""
        if version is None:
            return int(self.freeze(owner_id, manifest_id)[0].version)
        manifest = self._manifests.get_live(owner_id, manifest_id)
        if self._versions.get(manifest_id, version) is not None:
            return version
        if version == int(manifest.version):
            self.freeze(owner_id, manifest_id)
            # Frozen by us, or frozen by someone else and moved on since: either way frozen.
            if self._versions.get(manifest_id, version) is not None:
                return version
        raise version_error(version, int(manifest.version))

    # --- diff and restore ---------------------------------------------------------------

    def diff(self, owner_id: str, manifest_id: str, old_ref: str, new_ref: str) -> Diff:
        """Field-level differences; assets are matched by asset_id."""
        old = self.snapshot(owner_id, manifest_id, old_ref)
        new = self.snapshot(owner_id, manifest_id, new_ref)
        old_assets = {a.asset_id: a for a in old.assets}
        new_assets = {a.asset_id: a for a in new.assets}
        changed = []
        for asset in new.assets:
            before = old_assets.get(asset.asset_id)
            if before is not None:
                changes = diff_fields(
                    content(before, ASSET_IGNORED), content(asset, ASSET_IGNORED), ASSET_IGNORED
                )
                if changes:
                    changed.append((asset, changes))
        return Diff(
            manifest_changes=diff_fields(
                content(old.manifest, MANIFEST_IGNORED),
                content(new.manifest, MANIFEST_IGNORED),
                MANIFEST_IGNORED,
            ),
            added=[a for a in new.assets if a.asset_id not in old_assets],
            removed=[a for a in old.assets if a.asset_id not in new_assets],
            changed=changed,
        )

    def restore(self, owner_id: str, manifest_id: str, version: int) -> Snapshot:
        """Make the working copy hold version `version`'s content: its manifest
        fields and its assets (same ids, tags and images); assets added since
        are removed. One transaction conditioned on the revision read, so it is
        whole or absent, and it is an ordinary change (copy-on-write of a frozen
        working version). Tag counters are left alone: they only grow, and every
        tag of an older version was handed out by them. Answers the working copy
        as written, not re-read: a read failing after the commit must not turn a
        stored restore into an error."""
        target = self.get(owner_id, manifest_id, version)
        for _attempt in range(FREEZE_ATTEMPTS):
            manifest = self._manifests.get_live(owner_id, manifest_id)
            current = self._assets.list_for_manifest(manifest_id)
            plan = plan_restore(current, target.assets)
            if plan.size() + 1 > RESTORE_MAX_ITEMS:
                raise ConflictError(
                    f"Restoring version {version} changes {plan.size()} items, more than one atomic "
                    f"write holds ({RESTORE_MAX_ITEMS - 1}); duplicate it with ?version={version} instead"
                )
            fields = {
                k: v
                for k, v in target.manifest.attribute_values.items()
                if k not in MANIFEST_IGNORED and k not in ("owner_id", "manifest_id")
            }
            cleared = [
                k
                for k in RESTORABLE_OPTIONAL
                if k not in fields and manifest.attribute_values.get(k) is not None
            ]
            now = utcnow()
            # Images leaving the working copy are released inside the same write
            # (from a consistent read of their counts); those that reached 0 are
            # collected after the commit.
            seen = [(self._images.current_ref(key), n) for key, n in sorted(plan.release.items())]
            last: list[ImageRefModel] = []

            def release(
                tx: TransactWrite,
                seen: list[Any] = seen,
                last: list[ImageRefModel] = last,
                now: str = now,
            ) -> None:
                last.clear()
                for ref, count in seen:
                    if (
                        ref is not None
                        and int(ref.ref_count) > 0
                        and self._refs.tx_release(tx, ref, count, now)
                    ):
                        last.append(ref)

            try:
                restored, written = self._versions.restore(
                    manifest, fields, cleared, plan, len(target.assets), now, also=release
                )
            except ConditionFailed:
                continue  # changed since our read (assets, revision or an image count): plan again
            for ref in last:
                self._images.collect_after_commit(ref)
            unchanged = {a.asset_id: a for a in current}
            assets = [written.get(a.asset_id) or unchanged[a.asset_id] for a in target.assets]
            assets.sort(key=lambda a: (a.sort_order, a.created_at, a.asset_id))
            return Snapshot(restored, assets)
        raise ConflictError("The manifest is being changed concurrently; retry")


def version_error(version: int, current: int) -> ValidationFailedError:
    return ValidationFailedError(
        "manifest_version must be a frozen version or the current working version",
        [
            {
                "loc": ["body", "manifest_version"],
                "msg": f"Version {version} is neither frozen nor the working version ({current})",
                "type": "version_not_frozen",
            }
        ],
    )


def diff_fields(old: dict[str, Any], new: dict[str, Any], ignore: frozenset[str]) -> dict[str, Any]:
    return {
        k: {"from": old.get(k), "to": new.get(k)}
        for k in sorted(set(old) | set(new))
        if k not in ignore and old.get(k) != new.get(k)
    }
