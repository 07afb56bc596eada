"""PynamoDB models: the only description of our tables (keys, indexes, attributes).

Table names, endpoint and timeouts are read from config when a connection is
first made, not at import time. The listing indexes are sparse: an item is in
them only while it carries the `s_*` sort attributes, which a soft delete (or
an unfinished duplicate) removes.
"""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import (
    BooleanAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
)
from pynamodb.indexes import (
    GlobalSecondaryIndex,
    IncludeProjection,
    KeysOnlyProjection,
    LocalSecondaryIndex,
    Projection,
)
from pynamodb.models import Model

from chalicelib import config


class _FromConfig:
    """Descriptor: a Meta value read from config each time PynamoDB asks for it."""

    def __init__(self, getter: Any) -> None:
        self._getter = getter

    def __get__(self, obj: object, owner: type | None = None) -> Any:
        return self._getter()


def _table(suffix: str) -> _FromConfig:
    return _FromConfig(lambda: config.table_name(suffix))


class _BaseMeta:
    region = _FromConfig(config.region)
    host = _FromConfig(config.dynamodb_endpoint)
    connect_timeout_seconds = _FromConfig(config.dynamodb_connect_timeout)
    read_timeout_seconds = _FromConfig(config.dynamodb_read_timeout)
    max_retry_attempts = _FromConfig(config.dynamodb_max_retries)
    billing_mode = "PAY_PER_REQUEST"


# --- manifest listing indexes ---------------------------------------------------
# Five sorts x four filter scopes. The unfiltered scope uses LSIs (partition =
# owner_id, strongly consistent reads); the filtered scopes use GSIs whose
# partition is owner#category, owner#status or owner#category#status.
#
# A list page is one Query where the index carries what a list item shows
# (LIST_FIELDS): the 5 LSIs and the 3 filtered GSIs of the default sort
# (updated_at) project it (INCLUDE), less what the entry's own keys already
# carry (DERIVED_FROM_KEYS; the filter value is the partition queried). The other
# 12 GSIs stay KEYS_ONLY and their pages are fetched with BatchGetItem: DynamoDB
# allows 100 projected attributes per table (8 indexes use 93), and a projected
# entry is rewritten by every change of a list field, where a KEYS_ONLY entry
# only moves when its own key changes. The updated_at GSIs cost almost nothing
# extra: most list-field changes bump updated_at, which moves those entries
# anyway. The numbers are in docs/ARCHITECTURE.md ("Listing cost").

SORT_ATTRS = {
    "updated_at": "s_upd",
    "created_at": "s_crt",
    "name": "s_name",
    "times_used": "s_used",
    "asset_count": "s_count",
}
SCOPE_ATTRS = {"category": "p_cat", "status": "p_st", "category_status": "p_cs"}
SCOPE_FIELDS = {
    "owner": (),
    "category": ("category",),
    "status": ("status",),
    "category_status": ("category", "status"),
}

# What presenters.manifest_item reads, besides the manifest_id every entry carries.
LIST_FIELDS = (
    "name",
    "description",
    "thumbnail_key",
    "category",
    "tags",
    "status",
    "asset_count",
    "times_used",
    "last_used_at",
    "version",
    "created_at",
    "updated_at",
    "revision",
)
# A sort key that carries a list field exactly (timestamp#id, or the mirrored counter).
DERIVED_FROM_KEYS = {
    "s_upd": "updated_at",
    "s_crt": "created_at",
    "s_used": "times_used",
    "s_count": "asset_count",
}
PROJECTED_GSI_SORTS = ("updated_at",)


def index_name(scope: str, sort_by: str) -> str:
    return f"{scope}-{sort_by}"


def listing_projection(scope: str, sort_by: str) -> Projection:
    """INCLUDE the list fields the entry's keys do not carry, or KEYS_ONLY."""
    if scope != "owner" and sort_by not in PROJECTED_GSI_SORTS:
        return KeysOnlyProjection()
    derived = {*SCOPE_FIELDS[scope]}
    if SORT_ATTRS[sort_by] in DERIVED_FROM_KEYS:
        derived.add(DERIVED_FROM_KEYS[SORT_ATTRS[sort_by]])
    return IncludeProjection([f for f in LIST_FIELDS if f not in derived])


NUMERIC_SORT_ATTRS = {"s_used", "s_count"}


def _range(attr: str) -> Any:
    cls = NumberAttribute if attr in NUMERIC_SORT_ATTRS else UnicodeAttribute
    return cls(range_key=True)


def _lsi(name: str, range_attr: str, projection: Projection) -> type[LocalSecondaryIndex[Any]]:
    meta = type("Meta", (), {"index_name": name, "projection": projection})
    attrs = {
        "Meta": meta,
        "owner_id": UnicodeAttribute(hash_key=True),
        range_attr: _range(range_attr),
    }
    return type(f"LSI_{name}", (LocalSecondaryIndex,), attrs)


def _gsi(
    name: str, hash_attr: str, range_attr: str, projection: Projection
) -> type[GlobalSecondaryIndex[Any]]:
    meta = type("Meta", (), {"index_name": name, "projection": projection})
    attrs = {
        "Meta": meta,
        hash_attr: UnicodeAttribute(hash_key=True),
        range_attr: _range(range_attr),
    }
    return type(f"GSI_{name}", (GlobalSecondaryIndex,), attrs)


class ProcessingProgressAttribute(MapAttribute[str, Any]):
    """Where a manifest's processing stands (the seed's v2-manifest shape)."""

    uploads_total = NumberAttribute(null=True)
    uploads_processed = NumberAttribute(null=True)
    crops_total = NumberAttribute(null=True)
    crops_reverse_prompted = NumberAttribute(null=True)
    face_merges_completed = NumberAttribute(null=True)
    current_step = UnicodeAttribute(null=True)


class ManifestModel(Model):
    class Meta(_BaseMeta):
        table_name = _table("manifests")

    owner_id = UnicodeAttribute(hash_key=True)
    manifest_id = UnicodeAttribute(range_key=True)

    name = UnicodeAttribute()
    description = UnicodeAttribute(null=True)
    category = UnicodeAttribute()
    tags = ListAttribute(of=UnicodeAttribute, default=list)
    status = UnicodeAttribute()
    asset_count = NumberAttribute(default=0)
    times_used = NumberAttribute(default=0)
    last_used_at = UnicodeAttribute(null=True)
    version = NumberAttribute(default=1)
    # The newest frozen version (0: none). The working version is frozen while
    # `version == frozen_version`; every content write sets
    # `version = frozen_version + 1`, which is a no-op on an unfrozen working
    # version and the copy-on-write bump on a frozen one (no read, no extra call).
    frozen_version = NumberAttribute(default=0)
    revision = NumberAttribute(default=1)
    ref_count = NumberAttribute(default=0)
    # Next number per tag prefix; incremented atomically, never decremented.
    tag_seq = MapAttribute[str, Any](default=dict)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    deleted_at = UnicodeAttribute(null=True)
    pending_until = UnicodeAttribute(null=True)
    parent_manifest_id = UnicodeAttribute(null=True)
    # No code path ever stored a number here, so no item holds the old type.
    processing_progress = ProcessingProgressAttribute(null=True)
    contact_sheet_key = UnicodeAttribute(null=True)
    thumbnail_key = UnicodeAttribute(null=True)
    total_processing_cost = NumberAttribute(null=True, default=0.0)  # null on old items reads 0.0
    source_video_duration = NumberAttribute(null=True)

    # listing index keys (absent while deleted or pending)
    s_upd = UnicodeAttribute(null=True)
    s_crt = UnicodeAttribute(null=True)
    s_name = UnicodeAttribute(null=True)
    s_used = NumberAttribute(null=True)  # mirrors times_used while listed
    s_count = NumberAttribute(null=True)  # mirrors asset_count while listed
    p_cat = UnicodeAttribute(null=True)
    p_st = UnicodeAttribute(null=True)
    p_cs = UnicodeAttribute(null=True)

    # Sparse GSI of duplicates still being copied, for the cleanup sweep.
    pending_gsi_pk = UnicodeAttribute(null=True)
    # While pending: "<count>:<image object key>" for each image reference this
    # copy took, added in the same transaction as the acquire and removed in the
    # same transaction as the release, so a rollback releases exactly those.
    held_refs = UnicodeSetAttribute(null=True)

    # The last conditional write's per-request marker (repositories/base.py
    # `update_marked`): lets a write whose answer was lost recognise itself.
    write_token = UnicodeAttribute(null=True)


# Attach the 5 LSIs and 15 GSIs to the model class.
MANIFEST_INDEXES: dict[str, Any] = {}
for _sort_by, _range_attr in SORT_ATTRS.items():
    _name = index_name("owner", _sort_by)
    MANIFEST_INDEXES[_name] = _lsi(_name, _range_attr, listing_projection("owner", _sort_by))()
    for _scope, _hash_attr in SCOPE_ATTRS.items():
        _name = index_name(_scope, _sort_by)
        MANIFEST_INDEXES[_name] = _gsi(_name, _hash_attr, _range_attr, listing_projection(_scope, _sort_by))()


class _PendingIndex(GlobalSecondaryIndex["ManifestModel"]):
    class Meta:
        index_name = "pending"
        projection = KeysOnlyProjection()

    pending_gsi_pk = UnicodeAttribute(hash_key=True)
    pending_until = UnicodeAttribute(range_key=True)


MANIFEST_INDEXES["pending"] = _PendingIndex()

# Register the generated indexes exactly as PynamoDB's metaclass does for
# indexes declared in a class body (a bound copy per model class).
for _name, _index in MANIFEST_INDEXES.items():
    _index._model = ManifestModel
    setattr(ManifestModel, f"idx_{_name.replace('-', '_')}", _index)
    ManifestModel._indexes[_index.Meta.index_name] = _index


class AssetModel(Model):
    """One asset of a manifest. All assets of a manifest share a partition, so the
    detail view reads them with one strongly consistent Query."""

    class Meta(_BaseMeta):
        table_name = _table("assets")

    manifest_id = UnicodeAttribute(hash_key=True)
    asset_id = UnicodeAttribute(range_key=True)

    owner_id = UnicodeAttribute()
    asset_type = UnicodeAttribute()
    name = UnicodeAttribute()
    manifest_tag = UnicodeAttribute()
    user_tags = ListAttribute(of=UnicodeAttribute, default=list)
    description = UnicodeAttribute(null=True)
    # uploaded | detected | extracted; older items may hold "manual" or "upload",
    # which the presenter reads back as "uploaded".
    source = UnicodeAttribute(default="uploaded")
    sort_order = NumberAttribute(default=0)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    revision = NumberAttribute(default=1)
    reference_image_key = UnicodeAttribute(null=True)
    thumbnail_key = UnicodeAttribute(null=True)
    reverse_prompt = UnicodeAttribute(null=True)
    visual_description = UnicodeAttribute(null=True)
    quality_score = NumberAttribute(null=True)
    detection_class = UnicodeAttribute(null=True)
    detection_confidence = NumberAttribute(null=True)
    is_face_crop = BooleanAttribute(default=False)
    # The last conditional write's per-request marker (repositories/base.py
    # `update_marked`): lets a write whose answer was lost recognise itself.
    write_token = UnicodeAttribute(null=True)


class AssetLocatorModel(Model):
    """asset_id -> (owner, manifest), written in the same transaction as the asset,
    so `/assets/{asset_id}` reads its own write from a base table, never a GSI."""

    class Meta(_BaseMeta):
        table_name = _table("asset-locators")

    asset_id = UnicodeAttribute(hash_key=True)
    owner_id = UnicodeAttribute()
    manifest_id = UnicodeAttribute()


class _ProjectsByManifest(GlobalSecondaryIndex["ProjectModel"]):
    class Meta:
        index_name = "by-manifest"
        projection = KeysOnlyProjection()

    manifest_id = UnicodeAttribute(hash_key=True)
    s_crt = UnicodeAttribute(range_key=True)


# What presenters.project_item reads besides project_id: a project list page is
# then one Query of its LSI. Project writes are rare and move s_upd anyway.
PROJECT_LIST_FIELDS = (
    "title",
    "prompt",
    "manifest_id",
    "manifest_version",
    "created_at",
    "updated_at",
    "revision",
)


class _ProjectsByUpdated(LocalSecondaryIndex["ProjectModel"]):
    class Meta:
        index_name = "owner-updated_at"
        projection = IncludeProjection(list(PROJECT_LIST_FIELDS))

    owner_id = UnicodeAttribute(hash_key=True)
    s_upd = UnicodeAttribute(range_key=True)


class _ProjectsByCreated(LocalSecondaryIndex["ProjectModel"]):
    class Meta:
        index_name = "owner-created_at"
        projection = IncludeProjection(list(PROJECT_LIST_FIELDS))

    owner_id = UnicodeAttribute(hash_key=True)
    s_crt = UnicodeAttribute(range_key=True)


class ProjectModel(Model):
    class Meta(_BaseMeta):
        table_name = _table("projects")

    owner_id = UnicodeAttribute(hash_key=True)
    project_id = UnicodeAttribute(range_key=True)

    title = UnicodeAttribute(null=True)
    prompt = UnicodeAttribute(null=True)
    manifest_id = UnicodeAttribute(null=True)
    manifest_version = NumberAttribute(null=True)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    revision = NumberAttribute(default=1)
    s_upd = UnicodeAttribute()
    s_crt = UnicodeAttribute()
    # The last conditional write's per-request marker (repositories/base.py
    # `update_marked`): lets a write whose answer was lost recognise itself.
    write_token = UnicodeAttribute(null=True)

    by_manifest = _ProjectsByManifest()
    by_updated = _ProjectsByUpdated()
    by_created = _ProjectsByCreated()


class _PendingUploads(GlobalSecondaryIndex["UploadModel"]):
    """Sparse: only tickets still waiting for their bytes, for the expiry sweep."""

    class Meta:
        index_name = "pending"
        projection = KeysOnlyProjection()

    pending_pk = UnicodeAttribute(hash_key=True)
    expires_at = UnicodeAttribute(range_key=True)


class UploadModel(Model):
    """An upload ticket: one presigned PUT of one server-chosen key for one asset."""

    class Meta(_BaseMeta):
        table_name = _table("uploads")

    upload_id = UnicodeAttribute(hash_key=True)
    owner_id = UnicodeAttribute()
    manifest_id = UnicodeAttribute()
    asset_id = UnicodeAttribute()
    object_key = UnicodeAttribute()  # where the verified bytes are written (final)
    thumbnail_key = UnicodeAttribute()
    # Where the presigned PUT lands; never attached, deleted after completion
    # (absent on tickets issued before staging existed: they PUT to object_key).
    staging_key = UnicodeAttribute(null=True)
    content_type = UnicodeAttribute()
    declared_size = NumberAttribute()
    status = UnicodeAttribute()  # PENDING | COMPLETED | REJECTED | EXPIRED
    reason = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    expires_at = UnicodeAttribute()  # end of the completion window
    pending_pk = UnicodeAttribute(null=True)
    ttl = TTLAttribute(null=True)  # the ticket record itself is purged after this

    pending = _PendingUploads()


class _ReleasedImages(GlobalSecondaryIndex["ImageRefModel"]):
    """Sparse: only records whose count reached 0 (objects still to delete)."""

    class Meta:
        index_name = "released"
        projection = KeysOnlyProjection()

    zero_pk = UnicodeAttribute(hash_key=True)
    zero_since = UnicodeAttribute(range_key=True)


class ImageRefModel(Model):
    """How many assets (and pending duplicates) show an image object. Duplicated
    manifests share image objects. 0 is final: nothing acquires a record at 0;
    the write that reaches 0 also sets `zero_since`, which puts the record in the
    `released` index until its objects and then the record itself are deleted."""

    class Meta(_BaseMeta):
        table_name = _table("image-refs")

    object_key = UnicodeAttribute(hash_key=True)
    thumbnail_key = UnicodeAttribute()
    owner_id = UnicodeAttribute()
    ref_count = NumberAttribute(default=0)
    zero_since = UnicodeAttribute(null=True)
    zero_pk = UnicodeAttribute(null=True)

    released = _ReleasedImages()


class VersionModel(Model):
    """A frozen (immutable) version of a manifest: its summary here, its body
    (manifest fields and every asset) in S3 at `body_key`, written before this
    item and never changed after. `pinned_by` counts live projects pinning it,
    kept exact by the attach/detach transactions."""

    class Meta(_BaseMeta):
        table_name = _table("manifest-versions")

    manifest_id = UnicodeAttribute(hash_key=True)
    version = NumberAttribute(range_key=True)

    owner_id = UnicodeAttribute()
    name = UnicodeAttribute()
    asset_count = NumberAttribute()
    created_at = UnicodeAttribute()  # freeze time
    revision = NumberAttribute()  # the manifest revision frozen
    body_key = UnicodeAttribute()
    body_sha256 = UnicodeAttribute()
    pinned_by = NumberAttribute(default=0)


class IdempotencyModel(Model):
    """Powertools' idempotency records (its DynamoDBPersistenceLayer writes them;
    declared here so the table is created and deployed like every other)."""

    class Meta(_BaseMeta):
        table_name = _table("idempotency")

    id = UnicodeAttribute(hash_key=True)
    status = UnicodeAttribute(null=True)
    data = UnicodeAttribute(null=True)
    validation = UnicodeAttribute(null=True)
    expiration = TTLAttribute(null=True)
    in_progress_expiration = NumberAttribute(null=True)


ALL_MODELS: tuple[type[Model], ...] = (
    ManifestModel,
    AssetModel,
    AssetLocatorModel,
    ProjectModel,
    UploadModel,
    ImageRefModel,
    VersionModel,
    IdempotencyModel,
)
