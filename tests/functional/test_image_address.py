"""GET /api/assets/{id}/image: a stable address that redirects to a freshly
signed URL (issue 9, point 6)."""

from __future__ import annotations

import io
import time
import uuid
from urllib.parse import parse_qs, urlsplit

import requests
from PIL import Image

from tests.functional.test_uploads import upload
from tests.imagefactory import image_bytes


def uploaded_asset(api):
    mid = api.manifest()["manifest_id"]
    asset = api.asset(mid)
    data = image_bytes("image/png", (900, 600))
    _, r = upload(api, asset["asset_id"], data, "image/png")
    assert r.status == 200, r
    return asset["asset_id"], data


def test_the_image_address_redirects_to_the_original(alice):
    aid, data = uploaded_asset(alice)
    r = alice.get(f"/api/assets/{aid}/image")
    assert r.status == 302
    assert r.json == {"url": r.headers["location"]}
    assert r.headers["cache-control"] == "no-store"  # never cache the redirect past the URL's life
    fetched = requests.get(r.headers["location"], timeout=30)
    assert fetched.status_code == 200 and fetched.content == data


def test_the_thumbnail_variant_redirects_to_the_thumbnail(alice):
    aid, _ = uploaded_asset(alice)
    r = alice.get(f"/api/assets/{aid}/image?variant=thumbnail")
    assert r.status == 302
    thumb = Image.open(io.BytesIO(requests.get(r.headers["location"], timeout=30).content))
    assert thumb.format == "WEBP" and max(thumb.size) == 512


def test_each_redirect_is_signed_anew(alice):
    aid, _ = uploaded_asset(alice)
    listed = alice.get(f"/api/assets/{aid}").json["reference_image_url"]  # signed and cached
    time.sleep(1.1)  # SigV4 dates have a one-second resolution
    first = alice.get(f"/api/assets/{aid}/image").headers["location"]
    assert first != listed

    def signed_at(url):
        return parse_qs(urlsplit(url).query)["X-Amz-Date"][0]

    assert signed_at(first) > signed_at(listed)


def test_an_asset_without_an_image_is_a_404(alice):
    mid = alice.manifest()["manifest_id"]
    aid = alice.asset(mid)["asset_id"]
    for variant in ("", "?variant=thumbnail"):
        r = alice.get(f"/api/assets/{aid}/image{variant}")
        assert r.status == 404 and "location" not in r.headers


def test_an_unknown_or_foreign_asset_is_a_404(alice, bob):
    aid, _ = uploaded_asset(alice)
    r = bob.get(f"/api/assets/{aid}/image")
    assert r.status == 404 and "location" not in r.headers
    assert alice.get(f"/api/assets/{uuid.uuid4()}/image").status == 404


def test_an_unknown_variant_is_a_422_naming_the_choices(alice):
    aid, _ = uploaded_asset(alice)
    r = alice.get(f"/api/assets/{aid}/image?variant=huge")
    assert r.status == 422
    assert r.json["detail"] == "variant: must be one of original, thumbnail"
