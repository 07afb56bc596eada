"""Manifest versions: freeze, history, a frozen version, diff, restore, and the
pinned manifest of a project (what a pipeline worker reads)."""

from __future__ import annotations

from chalice import Blueprint

from chalicelib import presenters, services
from chalicelib.http import Page, WithStatus, api_route
from chalicelib.schemas import DiffQuery, ManifestDetail, VersionDiff, VersionListQuery, VersionSummary

bp = Blueprint(__name__)


@api_route(
    bp,
    "/manifests/{manifest_id}/versions",
    "POST",
    summary="Freeze the working version (201), or answer the frozen one unchanged (200)",
    response=VersionSummary,
    status=201,
    errors=(404, 409),  # 409: changed concurrently, retry
    also_ok=(200,),
)
def freeze_version(owner: str, manifest_id: str) -> VersionSummary | WithStatus:
    summary, created = services.versions().freeze(owner, manifest_id)
    body = presenters.version_summary(summary)
    return body if created else WithStatus(body, 200)


@api_route(
    bp,
    "/manifests/{manifest_id}/versions",
    "GET",
    summary="List frozen versions, newest first",
    query=VersionListQuery,
    response=list[VersionSummary],
    errors=(400, 404),
)
def list_versions(owner: str, manifest_id: str, query: VersionListQuery) -> Page:
    items, cursor = services.versions().list_page(owner, manifest_id, query)
    return Page([presenters.version_summary(v) for v in items], cursor)


@api_route(
    bp,
    "/manifests/{manifest_id}/versions/{version}",
    "GET",
    summary="A frozen version exactly as frozen (image URLs signed now)",
    response=ManifestDetail,
    errors=(404,),
)
def get_version(owner: str, manifest_id: str, version: str) -> ManifestDetail:
    snap = services.versions().get(owner, manifest_id, int(version))
    return presenters.manifest_detail(snap.manifest, snap.assets)


@api_route(
    bp,
    "/manifests/{manifest_id}/versions/{version}/restore",
    "POST",
    summary="Make the working copy hold a frozen version's content",
    response=ManifestDetail,
    errors=(404, 409),  # 409: changed concurrently, or too large for one atomic write
)
def restore_version(owner: str, manifest_id: str, version: str) -> ManifestDetail:
    snap = services.versions().restore(owner, manifest_id, int(version))
    return presenters.manifest_detail(snap.manifest, snap.assets)


@api_route(
    bp,
    "/manifests/{manifest_id}/diff",
    "GET",
    summary="Differences between two versions (`current` = the working copy)",
    query=DiffQuery,
    response=VersionDiff,
    errors=(404,),
)
def diff_versions(owner: str, manifest_id: str, query: DiffQuery) -> VersionDiff:
    diff = services.versions().diff(owner, manifest_id, query.from_, query.to)
    return presenters.version_diff(query.from_, query.to, diff)


@api_route(
    bp,
    "/projects/{project_id}/manifest",
    "GET",
    summary="The manifest version a project pins (what a pipeline worker renders)",
    response=ManifestDetail,
    errors=(404,),
)
def pinned_manifest(owner: str, project_id: str) -> ManifestDetail:
    snap = services.versions().pinned(owner, project_id)
    return presenters.manifest_detail(snap.manifest, snap.assets)
