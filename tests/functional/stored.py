"""What is stored, read straight from moto (test-only: scans are fine here), and the
helpers tests use to hold a request inside an injected latency fault."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from tests.conftest import Api
from tests.imagefactory import image_bytes


def hold_seconds(service: str = "dynamodb") -> float:
    """How long a latency fault holds a request: just under the app's read timeout
    for that service, so botocore never times the held request out and re-sends it
    (a re-sent write would land while the original is still held, and the original
    later). The other request of the test runs inside this window."""
    from chalicelib import config

    return config.dynamodb_read_timeout() - 0.5 if service == "dynamodb" else 9.0


def stamp(delta: timedelta = timedelta()) -> str:
    return (datetime.now(UTC) + delta).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def wait_for_hit(faults: Any, rule_id: str, timeout: float = 60.0) -> None:
    """Block until the rule has hit its request (the request is then held inside it)."""
    deadline = time.monotonic() + timeout
    while faults.hits(rule_id) < 1:
        assert time.monotonic() < deadline, f"fault {rule_id} never hit"
        time.sleep(0.02)


class Background:
    """Run a call on a thread; `result()` joins and returns (or re-raises) its outcome."""

    def __init__(self, call: Callable[[], Any]) -> None:
        self._outcome: dict[str, Any] = {}

        def run() -> None:
            try:
                self._outcome["value"] = call()
            except BaseException as exc:  # re-raised in result()
                self._outcome["error"] = exc

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def result(self, timeout: float = 120.0) -> Any:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the background call never finished"
        if "error" in self._outcome:
            raise self._outcome["error"]
        return self._outcome.get("value")


def unique_name(prefix: str = "n") -> str:
    """A name whose (case-folded) text appears in every request that carries it."""
    return f"{prefix}-{uuid.uuid4().hex}"


def attach_image(api: Api, asset_id: str, size: tuple[int, int] = (40, 30)) -> str:
    """Upload and complete an image; returns the asset's stored image key."""
    data = image_bytes("image/png", size)
    r = api.post(f"/api/assets/{asset_id}/upload-url", {"content_type": "image/png", "size": len(data)})
    assert r.status == 201, r
    ticket = r.json
    put = requests.put(ticket["url"], data=data, headers={"Content-Type": "image/png"}, timeout=30)
    assert put.status_code == 200, put.text
    done = api.post(f"/api/assets/{asset_id}/upload-complete", {"upload_id": ticket["upload_id"]})
    assert done.status == 200, done
    return image_key_of(asset_id)


def image_key_of(asset_id: str) -> str:
    from chalicelib.models import AssetLocatorModel, AssetModel

    locator = AssetLocatorModel.get(asset_id, consistent_read=True)
    key = AssetModel.get(locator.manifest_id, asset_id, consistent_read=True).reference_image_key
    assert key, "the asset shows no image"
    return str(key)


def object_exists(key: str) -> bool:
    from chalicelib.storage import storage

    return storage().size_of(key) is not None


@dataclass(frozen=True)
class ImageState:
    ref_count: int  # 0 when the record is at 0 or gone
    record: bool
    pointing: int  # assets whose reference_image_key is the key, except unfinished copies'
    held: int  # references recorded on unfinished duplicates
    object: bool
    thumbnail: bool


def image_state(key: str) -> ImageState:
    from chalicelib.models import AssetModel, ImageRefModel, ManifestModel

    try:
        ref = ImageRefModel.get(key, consistent_read=True)
    except ImageRefModel.DoesNotExist:
        ref = None
    pointing = 0
    for asset in AssetModel.scan(AssetModel.reference_image_key == key):
        try:
            manifest = ManifestModel.get(asset.owner_id, asset.manifest_id, consistent_read=True)
        except ManifestModel.DoesNotExist:
            manifest = None
        if manifest is None or not manifest.pending_until:
            pointing += 1  # an unfinished copy's assets hold nothing: the copy does (`held`)
    held = 0
    for m in ManifestModel.scan(ManifestModel.held_refs.exists()):
        for entry in m.held_refs or ():
            count, held_key = entry.split(":", 1)
            held += int(count) if held_key == key else 0
    thumb = f"thumbnails/{key.split('/', 1)[1].rsplit('.', 1)[0]}.webp"
    return ImageState(
        ref_count=int(ref.ref_count) if ref else 0,
        record=ref is not None,
        pointing=pointing,
        held=held,
        object=object_exists(key),
        thumbnail=object_exists(thumb),
    )


def assert_image_consistent(key: str) -> ImageState:
    """refs == assets pointing at the image (+ refs unfinished copies hold), and the
    objects exist exactly while there are references."""
    state = image_state(key)
    assert state.ref_count == state.pointing + state.held, state
    assert state.object == state.thumbnail == (state.ref_count > 0), state
    return state


def collect_released_now() -> int:
    """The sweep of released images, as if its grace period had passed."""
    from chalicelib import services

    return services.images().sweep_released(datetime.now(UTC) + timedelta(hours=1))


def crashed_duplicate(
    owner: str, source_id: str, deadline: str, assets: int = 3, image_key: str | None = None
) -> tuple[str, list[str]]:
    """What a duplicate leaves behind when its process dies mid-copy: a pending
    copy of `source_id` (pending until `deadline`) and `assets` of its assets with
    their locators; with `image_key`, every asset shows that image and the
    references the copy took to it are recorded. Returns (copy id, asset ids)."""
    from chalicelib.models import AssetModel, ManifestModel
    from chalicelib.repositories.assets import AssetRepository
    from chalicelib.repositories.base import utcnow
    from chalicelib.repositories.manifests import ManifestRepository
    from chalicelib.repositories.uploads import ImageRefRepository

    now = utcnow()
    manifests = ManifestRepository()
    copy = ManifestModel(
        owner, str(uuid.uuid4()), name="Half (Copy)", category="CUSTOM", status="DRAFT",
        asset_count=assets, created_at=now, updated_at=now, parent_manifest_id=source_id,
    )  # fmt: skip
    manifests.add_pending(copy, deadline)
    copied = [
        AssetModel(
            copy.manifest_id,
            str(uuid.uuid4()),
            owner_id=owner,
            asset_type="PROP",
            name=f"p{i}",
            manifest_tag=f"PROP_{i + 1:02d}",
            created_at=now,
            updated_at=now,
            reference_image_key=image_key,
        )
        for i in range(assets)
    ]
    AssetRepository(manifests).put_many(copied)
    if image_key:
        assert ImageRefRepository().acquire_for_pending(owner, copy.manifest_id, image_key, assets)
    return copy.manifest_id, [a.asset_id for a in copied]
