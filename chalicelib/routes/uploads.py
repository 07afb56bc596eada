from __future__ import annotations

from chalice import Blueprint

from chalicelib import presenters, services
from chalicelib.http import api_route
from chalicelib.schemas import AssetResponse, UploadComplete, UploadTicket, UploadUrlRequest
from chalicelib.uploaded import UploadedFile

bp = Blueprint(__name__)


@api_route(
    bp,
    "/assets/{asset_id}/upload-url",
    "POST",
    summary="Get a presigned URL to PUT an image",
    body=UploadUrlRequest,
    response=UploadTicket,
    status=201,
    errors=(404,),
    idempotent=True,
)
def create_upload_url(owner: str, asset_id: str, body: UploadUrlRequest) -> UploadTicket:
    issued = services.uploads().issue(owner, asset_id, body.content_type, body.size)
    return UploadTicket(
        upload_id=issued.ticket.upload_id,
        url=issued.put.url,
        headers=issued.put.headers,
        expires_at=issued.url_expires_at,
    )


@api_route(
    bp,
    "/assets/{asset_id}/upload-complete",
    "POST",
    summary="Verify an uploaded image and attach it",
    body=UploadComplete,
    response=AssetResponse,
    errors=(404, 409),
)
def complete_upload(owner: str, asset_id: str, body: UploadComplete) -> AssetResponse:
    return presenters.asset_item(services.uploads().complete(owner, asset_id, body.upload_id))


@api_route(
    bp,
    "/assets/{asset_id}/upload",
    "POST",
    summary="Upload a small image through the API (multipart field `file`)",
    response=AssetResponse,
    form_file=True,
    errors=(400, 404, 409, 413, 415, 422),
)
def upload_image(owner: str, asset_id: str, upload: UploadedFile) -> AssetResponse:
    return presenters.asset_item(services.uploads().upload_direct(owner, asset_id, upload))
