"""Field types follow the seed the web app was built against (issue 9, point 3)."""

from __future__ import annotations


def test_a_new_manifest_has_no_progress_and_a_float_cost_of_zero(alice):
    mid = alice.manifest()["manifest_id"]
    body = alice.get(f"/api/manifests/{mid}").json
    assert body["processing_progress"] is None
    assert body["total_processing_cost"] == 0.0
    assert isinstance(body["total_processing_cost"], float)


def test_processing_progress_is_an_object_with_the_seed_fields(owner, carol):
    from chalicelib.models import ManifestModel, ProcessingProgressAttribute

    mid = carol.manifest()["manifest_id"]
    progress = ProcessingProgressAttribute(
        uploads_total=4, uploads_processed=2, crops_total=9, crops_reverse_prompted=3, current_step="crops"
    )
    ManifestModel(owner, mid).update(
        actions=[
            ManifestModel.processing_progress.set(progress),
            ManifestModel.total_processing_cost.set(1.25),
        ]
    )
    body = carol.get(f"/api/manifests/{mid}").json
    assert body["processing_progress"] == {
        "uploads_total": 4,
        "uploads_processed": 2,
        "crops_total": 9,
        "crops_reverse_prompted": 3,
        "face_merges_completed": 0,
        "current_step": "crops",
    }
    assert body["total_processing_cost"] == 1.25


def test_a_cost_stored_as_null_by_an_older_version_reads_as_zero(owner, carol):
    from chalicelib.models import ManifestModel

    mid = carol.manifest()["manifest_id"]
    ManifestModel(owner, mid).update(actions=[ManifestModel.total_processing_cost.remove()])
    assert carol.get(f"/api/manifests/{mid}").json["total_processing_cost"] == 0.0


def test_assets_created_through_the_api_are_uploaded(alice):
    mid = alice.manifest()["manifest_id"]
    created = alice.asset(mid)
    assert created["source"] == "uploaded"
    assert alice.get(f"/api/manifests/{mid}").json["assets"][0]["source"] == "uploaded"


def test_legacy_manual_and_upload_sources_read_back_as_uploaded(alice):
    from chalicelib.models import AssetModel

    mid = alice.manifest()["manifest_id"]
    for legacy in ("manual", "upload"):
        aid = alice.asset(mid)["asset_id"]
        AssetModel(mid, aid).update(actions=[AssetModel.source.set(legacy)])
        assert alice.get(f"/api/assets/{aid}").json["source"] == "uploaded"
    assert {a["source"] for a in alice.get(f"/api/manifests/{mid}/assets").json} == {"uploaded"}


def test_pipeline_sources_are_kept(alice):
    from chalicelib.models import AssetModel

    mid = alice.manifest()["manifest_id"]
    for source in ("detected", "extracted"):
        aid = alice.asset(mid)["asset_id"]
        AssetModel(mid, aid).update(actions=[AssetModel.source.set(source)])
        assert alice.get(f"/api/assets/{aid}").json["source"] == source


def test_openapi_documents_the_seed_types(anonymous):
    schemas = anonymous.get("/api/openapi.json").json["components"]["schemas"]
    detail = schemas["ManifestDetail"]["properties"]
    assert detail["total_processing_cost"]["type"] == "number"
    progress = schemas["ProcessingProgress"]["properties"]
    assert set(progress) == {
        "uploads_total",
        "uploads_processed",
        "crops_total",
        "crops_reverse_prompted",
        "face_merges_completed",
        "current_step",
    }
    assert schemas["AssetSource"]["enum"] == ["uploaded", "detected", "extracted"]
