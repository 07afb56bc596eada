from __future__ import annotations

from chalice import Blueprint

from chalicelib import presenters, services
from chalicelib.http import Page, api_route
from chalicelib.schemas import (
    DuplicateQuery,
    ManifestCreate,
    ManifestDeleted,
    ManifestDetail,
    ManifestListItem,
    ManifestListQuery,
    ManifestUpdate,
)

bp = Blueprint(__name__)


@api_route(
    bp,
    "/manifests",
    "POST",
    summary="Create a manifest",
    body=ManifestCreate,
    response=ManifestListItem,
    status=201,
    idempotent=True,
)
def create_manifest(owner: str, body: ManifestCreate) -> ManifestListItem:
    return presenters.manifest_item(services.manifests().create(owner, body))


@api_route(
    bp,
    "/manifests",
    "GET",
    summary="List manifests",
    query=ManifestListQuery,
    response=list[ManifestListItem],
    errors=(400,),
)
def list_manifests(owner: str, query: ManifestListQuery) -> Page:
    items, cursor = services.manifests().list_page(owner, query)
    return Page([presenters.manifest_item(m) for m in items], cursor)


@api_route(
    bp,
    "/manifests/{manifest_id}",
    "GET",
    summary="Get a manifest with its assets",
    response=ManifestDetail,
    errors=(404,),
)
def get_manifest(owner: str, manifest_id: str) -> ManifestDetail:
    manifest, assets = services.manifests().get_detail(owner, manifest_id)
    return presenters.manifest_detail(manifest, assets)


@api_route(
    bp,
    "/manifests/{manifest_id}",
    "PUT",
    summary="Update a manifest",
    body=ManifestUpdate,
    response=ManifestListItem,
    errors=(404, 409),  # 409: changed concurrently, retry
    if_match=True,
)
def update_manifest(
    owner: str, manifest_id: str, body: ManifestUpdate, expected_revision: int | None
) -> ManifestListItem:
    return presenters.manifest_item(services.manifests().update(owner, manifest_id, body, expected_revision))


@api_route(
    bp,
    "/manifests/{manifest_id}",
    "DELETE",
    summary="Soft-delete a manifest",
    response=ManifestDeleted,
    errors=(404, 409),
    if_match=True,
)
def delete_manifest(owner: str, manifest_id: str, expected_revision: int | None) -> ManifestDeleted:
    services.manifests().delete(owner, manifest_id, expected_revision)
    return ManifestDeleted(manifest_id=manifest_id)


@api_route(
    bp,
    "/manifests/{manifest_id}/duplicate",
    "POST",
    summary="Duplicate a manifest",
    query=DuplicateQuery,
    response=ManifestListItem,
    status=201,
    errors=(404,),
    idempotent=True,
)
def duplicate_manifest(owner: str, manifest_id: str, query: DuplicateQuery) -> ManifestListItem:
    copy = services.manifests().duplicate(owner, manifest_id, query.name, version=query.version)
    return presenters.manifest_item(copy)
