"""The largest detail fits Lambda's 6 MB response payload (issue 9, point 5).

The maximum: 500 assets (MAX_ASSETS_PER_MANIFEST) with every text field at its
longest (name 200, description 2,000, 20 tags of 50, reverse prompt and visual
description 8,000 each) and two signed image URLs each, under a manifest at its
own maxima. That is ~10.6 MB of JSON: over the limit as text, so it is sent
gzip-compressed to clients that accept it (base64 inside the Lambda envelope),
and refused with a 406 that says why to clients that do not.

The assets are written in batches through the model (seeding 500 through the
API would take minutes) and read through the API.
"""

from __future__ import annotations

import base64
import gzip
import json
import random
import uuid
from typing import Any

import pytest

from chalicelib.http import LAMBDA_PAYLOAD_LIMIT

ASSETS = 500
PROMPT = (
    "cinematic portrait of a weathered detective in a rain soaked alley neon reflections on wet "
    "cobblestones volumetric fog rim light shallow depth of field anamorphic lens flare film grain "
    "muted teal and amber palette trench coat fedora cigarette smoke drifting past a flickering sign "
    "low angle wide shot brutalist towers looming overhead puddles mirror the skyline a lone figure "
    "walks toward the camera expression tense and tired stubble scar across the left cheek leather "
    "gloves holding a folded newspaper headline illegible vintage 1940s noir aesthetic high contrast"
)
WORDS = PROMPT.split(" ")


def prose(rng: random.Random, length: int) -> str:
    """Prompt-like text of exactly `length` characters."""
    words: list[str] = []
    size = 0
    while size < length:
        word = rng.choice(WORDS)
        words.append(word)
        size += len(word) + 1
    return " ".join(words)[:length].rstrip().ljust(length, "x")


def with_session_tokens(assets: list[dict[str, Any]], token: str) -> list[dict[str, Any]]:
    """The assets as Lambda would sign them: AWS credentials add X-Amz-Security-Token
    (~1 KB, the same in every URL) to each presigned URL; moto's do not."""

    def add(url: str | None) -> str | None:
        return None if url is None else f"{url}&X-Amz-Security-Token={token}"

    return [
        {**a, "reference_image_url": add(a["reference_image_url"]), "thumbnail_url": add(a["thumbnail_url"])}
        for a in assets
    ]


def envelope_bytes(gzip_body: bytes) -> int:
    """The body's weight in the Lambda response payload: base64 of the gzip bytes."""
    return len(base64.b64encode(gzip_body))


@pytest.fixture(scope="module")
def largest(chalice_client, jwt_secret):
    from chalicelib.models import AssetModel, ManifestModel
    from chalicelib.services.uploads import owner_prefix
    from tests.conftest import Api, token_for

    owner = f"user-{uuid.uuid4()}"
    api = Api(chalice_client, token_for(owner, jwt_secret))
    rng = random.Random(9)
    mid = api.manifest(
        name=prose(rng, 200),
        description=prose(rng, 2000),
        tags=[f"{i:02d}" + prose(rng, 48) for i in range(20)],
    )["manifest_id"]
    prefix = f"images/{owner_prefix(owner)}"
    now = "2026-01-01T00:00:00.000000Z"
    written = []
    with AssetModel.batch_write() as batch:
        for n in range(1, ASSETS + 1):
            aid = str(uuid.uuid4())
            asset = AssetModel(
                mid,
                aid,
                owner_id=owner,
                asset_type="CHARACTER",
                name=prose(rng, 200),
                manifest_tag=f"CHAR_{n:03d}",
                user_tags=[f"{i:02d}" + prose(rng, 48) for i in range(20)],
                description=prose(rng, 2000),
                source="uploaded",
                sort_order=n,
                created_at=now,
                updated_at=now,
                revision=1,
                reference_image_key=f"{prefix}/{mid}/{aid}/{uuid.uuid4()}.webp",
                thumbnail_key=f"{prefix}/{mid}/{aid}/{uuid.uuid4()}.thumb.webp",
                reverse_prompt=prose(rng, 8000),
                visual_description=prose(rng, 8000),
                quality_score=0.87654321,
                detection_class="person",
                detection_confidence=0.9876543,
                is_face_crop=False,
            )
            batch.save(asset)
            written.append(asset)
    first = written[0]
    ManifestModel(owner, mid).update(
        actions=[ManifestModel.asset_count.set(ASSETS), ManifestModel.thumbnail_key.set(first.thumbnail_key)]
    )
    return api, mid, {a.asset_id: a for a in written}


def get(api, path: str, **headers: str):
    return api._client.http.request(
        "GET", path, headers={"Authorization": f"Bearer {api.token}", **headers}, body=b""
    )


@pytest.mark.parametrize("route", ["/api/manifests/{mid}", "/api/manifests/{mid}/assets"])
def test_the_largest_detail_fits_lambda_when_compressed_and_decodes_whole(largest, route, capsys):
    api, mid, written = largest
    r = get(api, route.format(mid=mid), **{"Accept-Encoding": "gzip, deflate, br"})
    assert r.status_code == 200
    assert r.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in r.headers["Vary"]
    plain = gzip.decompress(r.body)
    body = json.loads(plain)
    assets = body["assets"] if isinstance(body, dict) else body
    assert len(assets) == ASSETS
    for a in assets:  # every asset whole, every field at its longest
        stored = written[a["asset_id"]]
        assert (a["reverse_prompt"], a["visual_description"]) == (
            stored.reverse_prompt,
            stored.visual_description,
        )
        assert len(a["description"]) == 2000 and len(a["name"]) == 200
        assert a["user_tags"] == list(stored.user_tags) and len(a["user_tags"]) == 20
        assert a["reference_image_url"] and a["thumbnail_url"]
    assert len(plain) > LAMBDA_PAYLOAD_LIMIT, "the maximum is over the limit as text"
    sent = envelope_bytes(r.body)
    assert sent < LAMBDA_PAYLOAD_LIMIT - 64 * 1024

    # With the session token AWS credentials add to every signed URL.
    token = "IQoJb3JpZ2luX2VjE" + uuid.uuid4().hex * 30
    signed = with_session_tokens(assets, token)
    on_aws = json.dumps(
        {**body, "assets": signed} if isinstance(body, dict) else signed, separators=(",", ":")
    )
    on_aws_sent = envelope_bytes(gzip.compress(on_aws.encode(), 6, mtime=0))
    assert on_aws_sent < LAMBDA_PAYLOAD_LIMIT - 64 * 1024
    with capsys.disabled():
        print(
            f"\n{route}: JSON {len(plain):,} B, gzip {len(r.body):,} B, base64 in the Lambda envelope "
            f"{sent:,} B; with AWS session tokens {len(on_aws):,} B -> {on_aws_sent:,} B "
            f"(limit {LAMBDA_PAYLOAD_LIMIT:,} B)"
        )


def test_without_gzip_the_largest_detail_is_a_406_that_says_why(largest):
    api, mid, _ = largest
    r = get(api, f"/api/manifests/{mid}")
    assert r.status_code == 406
    body = json.loads(r.body)
    assert body["detail"].endswith("ask with Accept-Encoding: gzip")
    assert "X-Request-Id" in r.headers


def test_gzip_refused_with_q_zero_is_not_sent(largest):
    api, mid, _ = largest
    r = get(api, f"/api/manifests/{mid}", **{"Accept-Encoding": "gzip;q=0, identity"})
    assert r.status_code == 406 and "Content-Encoding" not in r.headers


def test_small_answers_stay_uncompressed_and_large_lists_compress(alice):
    mid = alice.manifest()["manifest_id"]
    small = alice.get(f"/api/manifests/{mid}", headers={"Accept-Encoding": "gzip"})
    assert small.status == 200 and "content-encoding" not in small.headers
    for i in range(20):
        alice.manifest(name=f"Kit {i}", description="d" * 200)
    raw = alice._client.http.request(
        "GET",
        "/api/manifests",
        headers={"Authorization": f"Bearer {alice.token}", "Accept-Encoding": "gzip"},
        body=b"",
    )
    assert raw.headers["Content-Encoding"] == "gzip"
    assert len(json.loads(gzip.decompress(raw.body))) == 21
