"""Ten concurrent identical retries of one create, through the real local server."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.conftest import token_for

pytestmark = pytest.mark.e2e


def test_ten_concurrent_retries_of_one_create_make_exactly_one_manifest(local_server, jwt_secret):
    headers = {
        "Authorization": f"Bearer {token_for(f'retry-{uuid.uuid4()}', jwt_secret)}",
        "Content-Type": "application/json",
        "Idempotency-Key": str(uuid.uuid4()),
    }
    body = {"name": "Retried", "category": "STYLE_KIT"}

    def attempt(_: int) -> requests.Response:
        return requests.post(f"{local_server}/api/manifests", json=body, headers=headers, timeout=30)

    with ThreadPoolExecutor(max_workers=10) as pool:
        answers = list(pool.map(attempt, range(10)))
    created = {a.json()["manifest_id"] for a in answers if a.status_code == 201}
    assert len(created) == 1, [a.text for a in answers]
    assert all(a.status_code in (201, 409) for a in answers), [a.status_code for a in answers]
    # Once the first has finished, a retry gets its answer.
    late = attempt(0)
    assert late.status_code == 201 and late.json()["manifest_id"] in created
    listing = requests.get(f"{local_server}/api/manifests", headers=headers, timeout=30).json()
    assert [m["manifest_id"] for m in listing] == list(created)
