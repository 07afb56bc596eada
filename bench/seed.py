"""Fast seeding straight through the model classes (BatchWriteItem, 25 items a
request), with the listing attributes the repository would have written."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from chalicelib.models import AssetLocatorModel, AssetModel, ManifestModel
from chalicelib.repositories.manifests import listing_attributes
from chalicelib.schemas import TAG_PREFIXES

OTHER_CATEGORIES = ("ENVIRONMENT", "FULL_PRODUCTION", "STYLE_KIT", "BRAND_KIT", "CUSTOM")
OTHER_STATUSES = ("READY", "PROCESSING", "ERROR")
WORDS = ("amber", "basalt", "cedar", "delta", "ember", "fjord", "garnet", "harbor", "iris", "juniper")
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)

# What the filtered list pages in the bench ask for. Three in four seeded
# manifests match both, so a filtered page is full at every N.
FILTER_CATEGORY = "CHARACTERS"
FILTER_STATUS = "DRAFT"


def _timestamp(seconds: int) -> str:
    return (EPOCH + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def manifest_item(owner_id: str, i: int, *, asset_count: int = 0) -> ManifestModel:
    """The i-th seeded manifest of an owner: 3 in 4 are CHARACTERS/DRAFT, names
    and use counts vary so every sort has something to order."""
    mid = str(uuid.uuid4())
    plain = i % 4 != 3
    stamp = _timestamp(i * 7 + len(owner_id))
    manifest = ManifestModel(
        owner_id,
        mid,
        name=f"{WORDS[(i * 7919) % len(WORDS)].title()} kit {i}",
        description="Seeded by make bench",
        category=FILTER_CATEGORY if plain else OTHER_CATEGORIES[i % len(OTHER_CATEGORIES)],
        tags=["bench"],
        status=FILTER_STATUS if plain else OTHER_STATUSES[i % len(OTHER_STATUSES)],
        asset_count=asset_count,
        times_used=(i * 31) % 17,
        version=1,
        revision=1,
        ref_count=0,
        tag_seq={prefix: 0 for prefix in TAG_PREFIXES.values()},
        created_at=stamp,
        updated_at=stamp,
    )
    for key, value in listing_attributes(manifest).items():
        setattr(manifest, key, value)
    return manifest


def seed_manifests(owner_id: str, count: int, start: int = 0) -> list[str]:
    """Write `count` live manifests for `owner_id`; returns their ids."""
    ids = []
    with ManifestModel.batch_write() as batch:
        for i in range(start, start + count):
            manifest = manifest_item(owner_id, i)
            batch.save(manifest)
            ids.append(manifest.manifest_id)
    return ids


def seed_manifest_with_assets(owner_id: str, assets: int) -> str:
    """A manifest holding `assets` CHARACTER assets (tags CHAR_01 ...), with its
    count and tag counter consistent, and every asset's locator."""
    manifest = manifest_item(owner_id, 10**6, asset_count=assets)
    manifest.name = "Duplicate source"
    manifest.tag_seq = {**{p: 0 for p in TAG_PREFIXES.values()}, "CHAR": assets}
    for key, value in listing_attributes(manifest).items():
        setattr(manifest, key, value)
    manifest.save()
    items = []
    for n in range(1, assets + 1):
        stamp = _timestamp(n)
        items.append(
            AssetModel(
                manifest.manifest_id,
                str(uuid.uuid4()),
                owner_id=owner_id,
                asset_type="CHARACTER",
                name=f"Character {n}",
                manifest_tag=f"CHAR_{n:02d}",
                user_tags=["bench"],
                description="A seeded asset with a short description",
                source="uploaded",
                sort_order=n,
                created_at=stamp,
                updated_at=stamp,
                revision=1,
                is_face_crop=False,
            )
        )
    with AssetModel.batch_write() as batch:
        for asset in items:
            batch.save(asset)
    with AssetLocatorModel.batch_write() as batch:
        for asset in items:
            batch.save(AssetLocatorModel(asset.asset_id, owner_id=owner_id, manifest_id=manifest.manifest_id))
    return manifest.manifest_id
