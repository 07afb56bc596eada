from __future__ import annotations

from chalice import Blueprint

from chalicelib import presenters, services
from chalicelib.http import Redirect, api_route
from chalicelib.schemas import (
    AssetCreate,
    AssetDeleted,
    AssetResponse,
    AssetUpdate,
    ImageQuery,
    ImageRedirect,
)

bp = Blueprint(__name__)


@api_route(
    bp,
    "/manifests/{manifest_id}/assets",
    "POST",
    summary="Add an asset to a manifest",
    body=AssetCreate,
    response=AssetResponse,
    status=201,
    errors=(404, 409),
    idempotent=True,
)
def create_asset(owner: str, manifest_id: str, body: AssetCreate) -> AssetResponse:
    return presenters.asset_item(services.assets().create(owner, manifest_id, body))


@api_route(
    bp,
    "/manifests/{manifest_id}/assets",
    "GET",
    summary="List a manifest's assets",
    response=list[AssetResponse],
    errors=(404,),
)
def list_assets(owner: str, manifest_id: str) -> list[AssetResponse]:
    return [presenters.asset_item(a) for a in services.assets().list_for_manifest(owner, manifest_id)]


@api_route(bp, "/assets/{asset_id}", "GET", summary="Get an asset", response=AssetResponse, errors=(404,))
def get_asset(owner: str, asset_id: str) -> AssetResponse:
    return presenters.asset_item(services.assets().get(owner, asset_id))


@api_route(
    bp,
    "/assets/{asset_id}",
    "PUT",
    summary="Update an asset",
    body=AssetUpdate,
    response=AssetResponse,
    errors=(404,),
    if_match=True,
)
def update_asset(
    owner: str, asset_id: str, body: AssetUpdate, expected_revision: int | None
) -> AssetResponse:
    return presenters.asset_item(
        services.assets().update(owner, asset_id, body, expected_revision=expected_revision)
    )


@api_route(
    bp,
    "/assets/{asset_id}",
    "DELETE",
    summary="Delete an asset",
    response=AssetDeleted,
    errors=(404,),
    if_match=True,
)
def delete_asset(owner: str, asset_id: str, expected_revision: int | None) -> AssetDeleted:
    services.assets().delete(owner, asset_id, expected_revision=expected_revision)
    return AssetDeleted(asset_id=asset_id)


@api_route(
    bp,
    "/manifests/{manifest_id}/assets/{asset_id}",
    "GET",
    summary="Get an asset",
    response=AssetResponse,
    errors=(404,),
)
def get_nested_asset(owner: str, manifest_id: str, asset_id: str) -> AssetResponse:
    return presenters.asset_item(services.assets().get(owner, asset_id, manifest_id))


@api_route(
    bp,
    "/manifests/{manifest_id}/assets/{asset_id}",
    "PUT",
    summary="Update an asset",
    body=AssetUpdate,
    response=AssetResponse,
    errors=(404,),
    if_match=True,
)
def update_nested_asset(
    owner: str, manifest_id: str, asset_id: str, body: AssetUpdate, expected_revision: int | None
) -> AssetResponse:
    return presenters.asset_item(
        services.assets().update(owner, asset_id, body, manifest_id, expected_revision)
    )


@api_route(
    bp,
    "/manifests/{manifest_id}/assets/{asset_id}",
    "DELETE",
    summary="Delete an asset",
    response=AssetDeleted,
    errors=(404,),
    if_match=True,
)
def delete_nested_asset(
    owner: str, manifest_id: str, asset_id: str, expected_revision: int | None
) -> AssetDeleted:
    services.assets().delete(owner, asset_id, manifest_id, expected_revision)
    return AssetDeleted(asset_id=asset_id)


@api_route(
    bp,
    "/assets/{asset_id}/image",
    "GET",
    summary="Redirect to the asset's image (or ?variant=thumbnail) at a freshly signed URL",
    query=ImageQuery,
    response=ImageRedirect,
    status=302,
    errors=(404,),  # unknown or another owner's asset, or no image yet
)
def asset_image(owner: str, asset_id: str, query: ImageQuery) -> Redirect:
    key = services.assets().image_key(owner, asset_id, query.variant)
    url = presenters.fresh_image_url(key)
    return Redirect(ImageRedirect(url=url), url)
