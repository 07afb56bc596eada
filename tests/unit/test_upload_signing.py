"""Presigned PUTs: what the signature covers (moto does not check it, AWS does)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import boto3
import pytest
from botocore.config import Config

from chalicelib import images
from chalicelib.models import UploadModel
from chalicelib.services.uploads import owner_prefix
from chalicelib.storage import Storage


@pytest.fixture
def store(monkeypatch):
    monkeypatch.setenv("BUCKET_NAME", "unit-bucket")
    client = boto3.client(
        "s3",
        region_name="us-east-1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    return Storage(client)


def query(url):
    return {k: v[0] for k, v in parse_qs(urlparse(url).query).items()}


def test_the_put_url_signs_content_type_and_content_length(store):
    put = store.presign_put("images/a/b.png", "image/png", 1234, 900)
    signed = query(put.url)["X-Amz-SignedHeaders"].split(";")
    assert "content-type" in signed
    assert "content-length" in signed
    assert put.headers == {"Content-Type": "image/png", "Content-Length": "1234"}


def test_the_put_url_without_a_declared_size_still_signs_content_type(store):
    put = store.presign_put("images/a/b.png", "image/webp", None, 900)
    signed = query(put.url)["X-Amz-SignedHeaders"].split(";")
    assert "content-type" in signed
    assert "content-length" not in signed


@pytest.mark.parametrize("seconds", [60, 900, 3600])
def test_the_put_url_expires_as_configured(store, seconds):
    put = store.presign_put("images/a/b.png", "image/png", 10, seconds)
    assert query(put.url)["X-Amz-Expires"] == str(seconds)


def test_the_signature_changes_when_the_declared_type_changes(store):
    png = query(store.presign_put("k", "image/png", 10, 60).url)["X-Amz-Signature"]
    jpg = query(store.presign_put("k", "image/jpeg", 10, 60).url)["X-Amz-Signature"]
    assert png != jpg


def test_object_keys_are_server_generated_and_scoped(monkeypatch):
    from chalicelib.services.uploads import UploadService

    service = UploadService.__new__(UploadService)
    asset = type("A", (), {"manifest_id": "m-1", "asset_id": "a-1"})()
    ticket = service._new_ticket("../../owner/../x", asset, "image/png", 10)
    assert isinstance(ticket, UploadModel)
    parts = ticket.object_key.split("/")
    assert parts[0] == "images"
    assert parts[1] == owner_prefix("../../owner/../x")
    assert parts[1].isalnum()
    assert parts[2:4] == ["m-1", "a-1"]
    assert parts[4] == f"{ticket.upload_id}.png"
    assert ".." not in ticket.object_key
    assert ticket.thumbnail_key == f"thumbnails/{parts[1]}/m-1/a-1/{ticket.upload_id}.webp"
    # the presigned PUT goes to a staging key; only verified bytes reach `images/`
    assert ticket.staging_key == "incoming/" + ticket.object_key.removeprefix("images/")


def test_a_client_filename_cannot_reach_the_key():
    from chalicelib.schemas import UploadUrlRequest

    body = UploadUrlRequest.model_validate(
        {"content_type": "image/png", "size": 10, "filename": "../../../etc/passwd"}
    )
    assert body.filename == "../../../etc/passwd"  # accepted as metadata only
    import inspect

    from chalicelib.services.uploads import UploadService

    assert "filename" not in inspect.signature(UploadService.issue).parameters


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "image/png"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "image/jpeg"),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"GIF89a\x01\x00\x01\x00\x00\x00", None),
        (b"<svg xmlns=", None),
        (b"", None),
    ],
)
def test_magic_bytes_decide_the_type(head, kind):
    assert images.sniff(head) == kind


def test_declared_type_must_match_the_content():
    with pytest.raises(images.ImageRejected):
        images.check_type(b"\xff\xd8\xff\xe0rest", "image/png")
