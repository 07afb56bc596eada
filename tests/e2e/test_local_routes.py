"""`chalice local` itself (not only the test client): unknown routes are 404s
that never quote the caller's Authorization header, and wrong methods are 405s
with Allow (issue 9, point 2)."""

from __future__ import annotations

import pytest
import requests

from tests.unknown_routes import ID, LATER_PHASE

pytestmark = pytest.mark.e2e

UNKNOWN = [
    *LATER_PHASE,
    ("OPTIONS", "/api/metrics"),
]


@pytest.mark.parametrize(("method", "path"), UNKNOWN)
def test_an_unknown_route_on_the_local_server_is_a_404_without_the_token(http_user, method, path):
    user = http_user()
    r = requests.request(
        method, user.base + path, headers={"Authorization": f"Bearer {user.token}"}, timeout=30
    )
    assert r.status_code == 404, r.text
    assert r.json() == {"detail": "Not Found"}
    assert user.token not in r.text
    assert r.headers["X-Content-Type-Options"] == "nosniff"  # our middleware answered, not Chalice


def test_a_known_path_with_another_method_on_the_local_server_is_a_405(http_user):
    user = http_user()
    r = requests.post(
        f"{user.base}/api/manifests/{ID}", headers={"Authorization": f"Bearer {user.token}"}, timeout=30
    )
    assert r.status_code == 405
    assert r.headers["Allow"] == "DELETE, GET, OPTIONS, PUT"
    assert r.json()["detail"].startswith("Method Not Allowed")
