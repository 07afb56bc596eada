"""Property-based fuzzing of every operation in the OpenAPI document (schemathesis),
against the real local server.

Checks: no 5xx, and every answer conforms to the document (status code, content
type, required headers, body schema). Half of the cases address the fuzz owner's
own manifest, asset and project, so they get past the 404 of a random id and
reach validation, services and DynamoDB.

`make test` runs a bounded, derandomized budget (FUZZ_EXAMPLES per operation);
`make fuzz` runs a longer random one.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

import app  # noqa: F401  (registers every route, which the document lists)
from chalicelib import openapi

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "200"))
RANDOM = os.environ.get("FUZZ_RANDOM") == "1"
TIMEOUT = 30

# The coverage phase also sends methods the document does not list. TRACE is left
# out: `chalice local` (http.server) answers it 501 before our app sees it, and
# API Gateway answers it itself in AWS; GET/PUT/POST/DELETE/PATCH reach the app.
# Invalid data must be refused with a 4xx; 412 (an If-Match that names no ETag),
# 413 and 415 are refusals too.
CONFIG = SchemathesisConfig.from_dict(
    {
        "phases": {"coverage": {"unexpected-methods": ["get", "put", "post", "delete", "patch"]}},
        "checks": {
            "negative_data_rejection": {
                "expected-statuses": [400, 401, 403, 404, 405, 406, 409, 412, 413, 415, 422, 428, 429]
            }
        },
    }
)
schema = schemathesis.openapi.from_dict(openapi.document(), config=CONFIG)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
]


class FuzzOwner:
    """The fuzz owner's own resources, recreated whenever a fuzzed DELETE removes one."""

    def __init__(self, base: str, token: str) -> None:
        self.base = base
        self.headers = {"Authorization": f"Bearer {token}"}
        self.ids: dict[str, str] = {}
        self.cases = 0
        self.statuses: dict[int, int] = {}
        self.per_operation: dict[str, dict[int, int]] = {}
        self._manifest()
        self._project()

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        r = requests.post(self.base + path, json=body, headers=self.headers, timeout=TIMEOUT)
        assert r.status_code == 201, r.text
        data: dict[str, Any] = r.json()
        return data

    def _manifest(self) -> None:
        self.ids["manifest_id"] = self._post("/api/manifests", {"name": "Fuzz kit"})["manifest_id"]
        self._asset()
        # Version 1 frozen, so {version} paths reach a real version too.
        self.ids["version"] = str(
            self._post(f"/api/manifests/{self.ids['manifest_id']}/versions", {})["version"]
        )

    def _asset(self) -> None:
        asset = self._post(
            f"/api/manifests/{self.ids['manifest_id']}/assets", {"name": "Fuzz", "asset_type": "PROP"}
        )
        self.ids["asset_id"] = asset["asset_id"]

    def _project(self) -> None:
        self.ids["project_id"] = self._post("/api/projects", {"title": "Fuzz"})["project_id"]

    def address(self, case: Any) -> None:
        """Point half of the valid cases' path parameters at resources this owner has.
        The choice is a function of the generated values, so a failing case replays."""
        params = case.path_parameters or {}
        if case.meta is not None and case.meta.is_negative_at(ParameterLocation.PATH):
            return
        digest = hashlib.sha256(repr(sorted(params.items())).encode()).digest()
        if digest[0] % 2:
            return
        for name in params:
            if name in self.ids:
                params[name] = self.ids[name]

    def observe(self, case: Any, status: int) -> None:
        self.cases += 1
        tally = self.per_operation.setdefault(f"{case.operation.method.upper()} {case.operation.path}", {})
        tally[status] = tally.get(status, 0) + 1
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if case.method.upper() != "DELETE" or status != 200:
            return
        deleted = case.path_parameters or {}
        if "asset_id" in deleted and deleted["asset_id"] == self.ids["asset_id"]:
            self._asset()
        elif deleted.get("manifest_id") == self.ids["manifest_id"]:
            self._manifest()
        elif deleted.get("project_id") == self.ids["project_id"]:
            self._project()


@pytest.fixture(scope="session")
def fuzz_owner(local_server: str, fuzz_token: str, fuzz_report: dict[str, Any]) -> FuzzOwner:
    owner = FuzzOwner(local_server, fuzz_token)
    fuzz_report["owner"] = owner
    return owner


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=not RANDOM,
    suppress_health_check=list(HealthCheck),
)
def test_no_operation_answers_5xx_or_breaks_its_documented_contract(
    case: Any, local_server: str, fuzz_token: str, fuzz_owner: FuzzOwner
) -> None:
    fuzz_owner.address(case)
    if not probes_authorization(case):
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {fuzz_token}"}
    response = case.call(base_url=local_server, timeout=TIMEOUT)
    fuzz_owner.observe(case, response.status_code)
    checks = (
        CHECKS
        if not only_undocumented_headers(case)
        else [c for c in CHECKS if c is not negative_data_rejection]
    )
    case.validate_response(response, checks=checks)


def _mutated(case: Any) -> set[str]:
    data = case.meta.phase.data if case.meta is not None else None
    if data is None:
        return set()
    names = {m.parameter for m in data.mutations if m.parameter}
    if data.parameter:
        names.add(data.parameter)
    return names


def probes_authorization(case: Any) -> bool:
    """A case that leaves out or mangles the bearer token keeps it that way (-> 401)."""
    return (
        case.meta is not None
        and case.meta.is_negative_at(ParameterLocation.HEADER)
        and "Authorization" in _mutated(case)
    )


def only_undocumented_headers(case: Any) -> bool:
    """Negative only by carrying headers the document does not name: HTTP servers
    ignore unknown headers, so such a request is rightly served."""
    if case.meta is None or not case.meta.is_negative_at(ParameterLocation.HEADER):
        return False
    negative = {loc for loc in ParameterLocation if case.meta.is_negative_at(loc)}
    documented = {p.name.lower() for p in case.operation.headers} | {"authorization", "content-type"}
    extra = {name.lower() for name in case.headers or {}} - documented
    return negative == {ParameterLocation.HEADER} and bool(extra) and not (_mutated(case) - {None})
