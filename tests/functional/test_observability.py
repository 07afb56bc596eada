"""Structured access logs: useful fields, and never a token or a signed URL."""

from __future__ import annotations

import json
import logging


def test_each_request_logs_one_json_line_without_secrets(alice, capsys):
    capsys.readouterr()
    mid = alice.manifest()["manifest_id"]
    asset = alice.asset(mid)
    ticket = alice.post(
        f"/api/assets/{asset['asset_id']}/upload-url", {"content_type": "image/png", "size": 5}
    )
    assert ticket.status == 201
    alice.get("/api/manifests/not-a-uuid")
    out = capsys.readouterr().out
    assert alice.token not in out
    assert "X-Amz-Signature" not in out and ticket.json["url"] not in out
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    access = [entry for entry in lines if entry.get("logger") == "vidpipe.access"]
    assert [e["status"] for e in access] == [201, 201, 201, 404]
    assert access[0]["route"] == "/api/manifests"
    assert access[2]["route"] == "/api/assets/{asset_id}/upload-url"
    assert {e["owner_id"] for e in access[:3]} == {access[0]["owner_id"]}
    assert access[0]["owner_id"] and access[0]["owner_id"].startswith("user-")
    assert all(isinstance(e["latency_ms"], float) for e in access)
    assert all(e["request_id"] for e in access)


def test_the_access_logger_writes_json(caplog):
    from chalicelib.observability import JsonFormatter

    record = logging.LogRecord("vidpipe.access", logging.INFO, __file__, 1, "request", None, None)
    record.fields = {"status": 200}
    assert json.loads(JsonFormatter().format(record))["status"] == 200
