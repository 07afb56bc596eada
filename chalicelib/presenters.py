"""Domain objects -> response schemas. Image URLs are minted here at read time
from the stored object keys; they are never stored."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from chalicelib.schemas import (
    AssetResponse,
    AssetSource,
    AssetType,
    Category,
    ManifestDetail,
    ManifestListItem,
    ManifestStatus,
    ProcessingProgress,
    ProjectResponse,
    VersionDiff,
    VersionSummary,
)

if TYPE_CHECKING:  # the models (and PynamoDB) load with the first request that needs them
    from chalicelib.models import AssetModel, ManifestModel, ProjectModel, VersionModel
    from chalicelib.services.versions import Diff

UrlFor = Callable[[str | None], str | None]


def _signed_url(key: str | None) -> str | None:
    """Signed GET URL for a stored object key (S3 is only touched when there is one)."""
    if not key:
        return None
    from chalicelib.storage import storage

    return storage().image_url(key)


def fresh_image_url(key: str) -> str:
    """A newly signed GET URL for the stable image address (never a cached one)."""
    from chalicelib.storage import storage

    url = storage().image_url(key, fresh=True)
    assert url is not None  # a key was given
    return url


def _num(value: float | int | None) -> float | None:
    return None if value is None else float(value)


# Values written before the seed's vocabulary was adopted.
_LEGACY_SOURCES = {"manual": AssetSource.UPLOADED, "upload": AssetSource.UPLOADED}


def _source(value: str | None) -> AssetSource:
    if not value:
        return AssetSource.UPLOADED
    return _LEGACY_SOURCES.get(value) or AssetSource(value)


def _progress(value: Any) -> ProcessingProgress | None:
    if value is None:
        return None
    data = value.as_dict() if hasattr(value, "as_dict") else dict(value)
    counts = (
        "uploads_total",
        "uploads_processed",
        "crops_total",
        "crops_reverse_prompted",
        "face_merges_completed",
    )
    return ProcessingProgress(
        **{name: int(data.get(name) or 0) for name in counts}, current_step=data.get("current_step")
    )


def manifest_item(m: ManifestModel, url_for: UrlFor = _signed_url) -> ManifestListItem:
    return ManifestListItem(
        manifest_id=m.manifest_id,
        name=m.name,
        description=m.description,
        thumbnail_url=url_for(m.thumbnail_key),
        category=Category(m.category),
        tags=[str(t) for t in m.tags or []],
        status=ManifestStatus(m.status),
        asset_count=int(m.asset_count),
        times_used=int(m.times_used),
        last_used_at=m.last_used_at,
        version=int(m.version),
        created_at=m.created_at,
        updated_at=m.updated_at,
        revision=int(m.revision),
    )


def asset_item(a: AssetModel, url_for: UrlFor = _signed_url) -> AssetResponse:
    return AssetResponse(
        asset_id=a.asset_id,
        manifest_id=a.manifest_id,
        asset_type=AssetType(a.asset_type),
        name=a.name,
        manifest_tag=a.manifest_tag,
        user_tags=[str(t) for t in a.user_tags or []],
        reference_image_url=url_for(a.reference_image_key),
        thumbnail_url=url_for(a.thumbnail_key),
        description=a.description,
        source=_source(a.source),
        sort_order=int(a.sort_order),
        created_at=a.created_at,
        updated_at=a.updated_at,
        reverse_prompt=a.reverse_prompt,
        visual_description=a.visual_description,
        quality_score=_num(a.quality_score),
        detection_class=a.detection_class,
        detection_confidence=_num(a.detection_confidence),
        is_face_crop=bool(a.is_face_crop),
        revision=int(a.revision),
    )


def manifest_detail(
    m: ManifestModel, assets: list[AssetModel], url_for: UrlFor = _signed_url
) -> ManifestDetail:
    return ManifestDetail(
        **manifest_item(m, url_for).model_dump(),
        processing_progress=_progress(m.processing_progress),
        contact_sheet_url=url_for(m.contact_sheet_key),
        total_processing_cost=float(m.total_processing_cost or 0.0),
        parent_manifest_id=m.parent_manifest_id,
        source_video_duration=_num(m.source_video_duration),
        assets=[asset_item(a, url_for) for a in assets],
    )


def project_item(p: ProjectModel) -> ProjectResponse:
    return ProjectResponse(
        project_id=p.project_id,
        title=p.title,
        prompt=p.prompt,
        manifest_id=p.manifest_id,
        manifest_version=None if p.manifest_version is None else int(p.manifest_version),
        created_at=p.created_at,
        updated_at=p.updated_at,
        revision=int(p.revision),
    )


def version_summary(v: VersionModel) -> VersionSummary:
    return VersionSummary(
        manifest_id=v.manifest_id,
        version=int(v.version),
        name=v.name,
        asset_count=int(v.asset_count),
        created_at=v.created_at,
        pinned_by=int(v.pinned_by or 0),
    )


# Stored object keys are shown as the signed URLs the rest of the API shows.
KEY_FIELDS = {
    "reference_image_key": "reference_image_url",
    "thumbnail_key": "thumbnail_url",
    "contact_sheet_key": "contact_sheet_url",
}


def _changes(changes: dict[str, dict[str, object]], url_for: UrlFor) -> dict[str, dict[str, object]]:
    out = {}
    for field, change in changes.items():
        if field in KEY_FIELDS:
            change = {k: url_for(v if isinstance(v, str) else None) for k, v in change.items()}
            field = KEY_FIELDS[field]
        out[field] = change
    return out


def version_diff(old: str, new: str, diff: Diff, url_for: UrlFor = _signed_url) -> VersionDiff:
    return VersionDiff.model_validate(
        {
            "from": old,
            "to": new,
            "manifest_changes": _changes(diff.manifest_changes, url_for),
            "added": [asset_item(a, url_for) for a in diff.added],
            "removed": [asset_item(a, url_for) for a in diff.removed],
            "changed": [
                {"manifest_tag": a.manifest_tag, "asset_id": a.asset_id, "changes": _changes(c, url_for)}
                for a, c in diff.changed
            ],
        }
    )
