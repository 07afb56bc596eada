"""Paths the API does not serve (yet): the unknown-route tests ask them through
the test client (tests/functional) and through `chalice local` (tests/e2e)."""

from __future__ import annotations

import uuid

ID = str(uuid.uuid4())

LATER_PHASE = [
    ("POST", f"/api/manifests/{ID}/process"),
    ("GET", f"/api/manifests/{ID}/progress"),
    ("POST", f"/api/manifests/{ID}/upload-video"),
    ("POST", f"/api/assets/{ID}/reprocess"),
    ("GET", "/api/metrics"),
    ("POST", "/api/manifests/from-project"),
    ("GET", "/"),
]
