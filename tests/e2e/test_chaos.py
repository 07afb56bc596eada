"""The short `make chaos`: the same harness (scripts/chaos.py), 25 s and 4 clients.

Every figure the checker computes is compared with the stored data only after
the run has settled, and unknown outcomes (client timeouts, dropped
connections) are counted but never judged, so a loaded machine gives the same
verdict; only the number of requests changes.
"""

from __future__ import annotations

import chaos
import pytest

pytestmark = pytest.mark.e2e

SECONDS = 25
CLIENTS = 4
SEED = 7


@pytest.mark.timeout(900)
def test_a_short_soak_under_faults_keeps_every_invariant_and_tells_every_client_the_truth(
    local_server, backend, jwt_secret
):
    report = chaos.soak(
        local_server,
        backend["DYNAMODB_ENDPOINT_URL"],
        jwt_secret,
        seconds=SECONDS,
        clients=CLIENTS,
        seed=SEED,
        log=lambda *_: None,
    )
    print(report.text())

    assert report.figures["requests to the API"] >= CLIENTS * len(chaos.TOUR) // 2
    assert report.figures["faults injected"] > 0
    violated = {name: n for name, n in report.checks.items() if n}
    assert violated == {}, report.text()
