"""The `make chaos` checker on hand-made histories: what it must flag, and the
ambiguous outcomes it must not judge (unknown outcomes, concurrent deletes,
markers a copy inherited)."""

from __future__ import annotations

from typing import Any

from chaos import Record, Report, Stored, check

M1 = "m-1"
A1 = "a-1"
P1 = "p-1"


def manifest(mid: str = M1, **fields: Any) -> dict[str, Any]:
    item = {"owner_id": "o", "manifest_id": mid, "name": f"chaos-manifest-{mid}", "asset_count": 0}
    item.update(ref_count=0, tag_seq={"CHAR": 0}, s_count=fields.get("asset_count", 0))
    item.update(fields)
    return item


def asset(aid: str = A1, mid: str = M1, tag: str = "CHAR_01", **fields: Any) -> dict[str, Any]:
    return {"owner_id": "o", "asset_id": aid, "manifest_id": mid, "manifest_tag": tag, "name": aid, **fields}


def stored(**parts: Any) -> Stored:
    base: dict[str, Any] = {
        "manifests": {},
        "assets": {},
        "projects": {},
        "uploads": {},
        "image_refs": {},
        "objects": set(),
    }
    base.update(parts)
    return Stored(**base)


def rec(op: str, status: int | None, body: Any = None, **meta: Any) -> Record:
    method = "DELETE" if op.startswith("delete") else "POST"
    error = "timeout" if status is None else None
    return Record(0, op, method, f"/api/{op}", status, body, error=error, **meta)


def violations(records: list[Record], state: Stored) -> dict[str, int]:
    report = check(Report(seconds=1, clients=1, seed=1, faults_on=False), records, state)
    return {name: n for name, n in report.checks.items() if n}


def test_a_consistent_history_passes_every_check():
    state = stored(
        manifests={M1: manifest(asset_count=1, tag_seq={"CHAR": 1})},
        assets={A1: asset()},
    )
    records = [
        rec("create_manifest", 201, {"manifest_id": M1}, marker=f"chaos-manifest-{M1}"),
        rec(
            "create_asset",
            201,
            {"asset_id": A1, "manifest_id": M1, "manifest_tag": "CHAR_01"},
            marker=A1,
            target_manifest=M1,
        ),
    ]
    assert violations(records, state) == {}


def test_a_failed_create_whose_item_is_stored_is_a_misreport_but_a_timed_out_one_is_not_judged():
    state = stored(manifests={M1: manifest()})
    failed = rec("create_manifest", 409, {"detail": "x"}, marker=f"chaos-manifest-{M1}")
    timed_out = rec("create_manifest", None, marker=f"chaos-manifest-{M1}")

    assert violations([failed], state) == {"misreported: told failure, stored": 1}
    assert violations([timed_out], state) == {}


def test_a_create_told_success_whose_item_is_missing_is_a_misreport():
    records = [rec("create_manifest", 201, {"manifest_id": M1}, marker="chaos-manifest-gone")]
    assert violations(records, stored()) == {"misreported: told success, not stored": 1}


def test_a_deleted_asset_is_explained_only_by_a_delete_told_success_or_unknown():
    state = stored(manifests={M1: manifest()})
    created = rec("create_asset", 201, {"asset_id": A1, "manifest_id": M1}, marker=A1, target_manifest=M1)

    assert violations([created], state) == {"gone although no delete was told success": 1}
    told_404 = rec("delete_asset", 404, {"detail": "Asset not found"}, target=A1)
    assert violations([created, told_404], state) == {"misreported: told failure, stored": 1}
    told_200 = rec("delete_asset", 200, {"asset_id": A1}, target=A1)
    assert violations([created, told_404, told_200], state) == {}
    unknown = rec("delete_asset", None, target=A1)
    assert violations([created, told_404, unknown], state) == {}


def test_a_delete_told_success_whose_item_remains_is_a_misreport():
    state = stored(manifests={M1: manifest(asset_count=1, tag_seq={"CHAR": 1})}, assets={A1: asset()})
    records = [rec("delete_asset", 200, {"asset_id": A1}, target=A1)]
    assert violations(records, state) == {"misreported: told success, not stored": 1}


def test_the_stored_update_marker_names_the_last_applied_write_but_a_copy_inherits_it_unjudged():
    applied = "chaos-desc-1"
    seq = {"CHAR": 1}
    state = stored(
        manifests={
            M1: manifest(asset_count=1, tag_seq=seq),
            "m-2": manifest("m-2", asset_count=1, tag_seq=seq),
        },
        assets={A1: asset(description=applied), "a-copy": asset("a-copy", "m-2", description=applied)},
    )
    failed_update = rec("update_asset", 404, {"detail": "x"}, marker=applied, target=A1)
    ok_update = rec("update_asset", 200, {}, marker=applied, target=A1)

    assert violations([failed_update], state) == {"misreported: told failure, stored": 1}
    assert violations([ok_update], state) == {}


def test_an_update_told_success_that_left_no_trace_is_a_misreport():
    state = stored(manifests={M1: manifest(asset_count=1, tag_seq={"CHAR": 1})}, assets={A1: asset()})
    records = [rec("update_asset", 200, {}, marker="chaos-desc-lost", target=A1)]
    assert violations(records, state) == {"misreported: told success, not stored": 1}


def test_counters_and_references_are_compared_with_the_items_they_count():
    state = stored(
        manifests={
            M1: manifest(asset_count=2, s_count=1, ref_count=0, deleted_at="2026", tag_seq={"CHAR": 1})
        },
        assets={A1: asset()},
        projects={P1: {"owner_id": "o", "project_id": P1, "manifest_id": M1}},
    )
    assert violations([], state) == {
        "asset_count != number of assets": 1,
        "s_count (listing mirror) != asset_count": 1,
        "ref_count != live projects pinning the manifest": 1,
        "live project references a deleted/missing/unpublished manifest": 1,
    }


def test_tags_must_be_unique_below_their_counter_and_never_handed_to_a_second_asset():
    state = stored(
        manifests={M1: manifest(asset_count=2, tag_seq={"CHAR": 1})},
        assets={A1: asset(tag="CHAR_01"), "a-2": asset("a-2", tag="CHAR_02")},
    )
    earlier = rec("update_asset", 200, {"asset_id": "a-old", "manifest_id": M1, "manifest_tag": "CHAR_02"})
    assert violations([earlier], state) == {
        "tags above their manifest's counter (would be reissued)": 1,
        "tags reused (one tag, two assets of a manifest)": 1,
    }


def test_images_need_their_objects_and_exact_refs_and_nothing_else_may_be_left():
    img, thumb = "images/h/m/a/u.png", "thumbnails/h/m/a/u.webp"
    pending = {
        "upload_id": "u-2",
        "asset_id": A1,
        "status": "PENDING",
        "object_key": "images/h/p.png",
        "thumbnail_key": "thumbnails/h/p.webp",
    }
    state = stored(
        manifests={M1: manifest(asset_count=1, tag_seq={"CHAR": 1})},
        assets={A1: asset(reference_image_key=img, thumbnail_key=thumb)},
        image_refs={img: {"object_key": img, "ref_count": 2}},
        uploads={"u-2": pending},
        objects={img, "images/h/p.png", "images/h/orphan.png"},
    )
    records = [rec("upload_url", 201, {"upload_id": "u-2"}, target=A1)]
    assert violations(records, state) == {
        "asset thumbnail object missing in S3": 1,
        "image-ref ref_count != assets showing the image + versions holding it": 1,
        "orphan objects (no asset, no pending ticket, no ref)": 1,
    }


def test_an_upload_completion_is_judged_by_its_tickets_status():
    state = stored(uploads={"u-1": {"upload_id": "u-1", "asset_id": A1, "status": "COMPLETED"}})
    issued = rec("upload_url", 201, {"upload_id": "u-1"}, target=A1)
    told_404 = rec("upload_complete", 404, {"detail": "x"}, target="u-1")
    assert violations([issued, told_404], state) == {"misreported: told failure, stored": 1}


def test_a_500_is_always_counted():
    assert violations(
        [rec("create_project", 500, {"detail": "Internal server error"}, marker="t")], stored()
    ) == {"responses 500": 1}


def test_objects_of_a_record_at_zero_are_told_apart_from_untracked_orphans():
    staged = {"upload_id": "u-1", "asset_id": A1, "status": "PENDING", "staging_key": "staging/h/u-1.png"}
    state = stored(
        image_refs={
            "images/h/r.png": {"object_key": "images/h/r.png", "thumbnail_key": "thumbnails/h/r.webp"}
        },
        uploads={"u-1": staged},
        objects={"images/h/r.png", "thumbnails/h/r.webp", "staging/h/u-1.png"},
    )
    records = [rec("upload_url", 201, {"upload_id": "u-1"}, target=A1)]
    assert violations(records, state) == {"objects released but not deleted (image-ref at 0)": 2}


def test_frozen_versions_hold_their_images_and_bodies_and_count_their_pins():
    """An image only a frozen version shows keeps its objects and one reference;
    the version's body is referenced; pinned_by must equal the projects pinning it."""
    img, thumb = "images/h/m/a/u.png", "thumbnails/h/m/a/u.webp"
    body = "versions/h/m-1/1-r3-abc.json"
    state = stored(
        manifests={M1: manifest(ref_count=1)},
        projects={P1: {"owner_id": "o", "project_id": P1, "manifest_id": M1, "manifest_version": 1}},
        image_refs={img: {"object_key": img, "ref_count": 1}},
        objects={img, thumb, body},
        versions={f"{M1}#1": {"manifest_id": M1, "version": 1, "body_key": body, "pinned_by": 1}},
        version_images={f"{M1}#1": [(img, thumb)]},
    )
    assert violations([], state) == {}
    state.versions[f"{M1}#1"]["pinned_by"] = 0
    state.image_refs[img]["ref_count"] = 2
    state.objects.discard(thumb)
    assert violations([], state) == {
        "pinned_by != live projects pinning the version": 1,
        "image-ref ref_count != assets showing the image + versions holding it": 1,
        "frozen version thumbnail missing": 1,
    }
