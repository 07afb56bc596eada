"""Fixtures for the attack tests: owners over the chalice test client (BOLA matrix)
and over the real local server (fuzzing, headers, CORS)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.conftest import token_for


@pytest.fixture(scope="session")
def fuzz_token(jwt_secret: str) -> str:
    """One bearer token for every fuzzed request: a fresh owner, so whatever the
    fuzzer creates or deletes belongs to nobody else."""
    return token_for(f"fuzz-{uuid.uuid4()}", jwt_secret)


@pytest.fixture(scope="session")
def fuzz_report() -> dict[str, Any]:
    """Filled by the fuzz test; printed at the end of the run (the closing note quotes it)."""
    return _FUZZ_REPORT


_FUZZ_REPORT: dict[str, Any] = {}


def pytest_terminal_summary(terminalreporter: Any) -> None:
    owner = _FUZZ_REPORT.get("owner")
    if owner is None:
        return
    statuses = ", ".join(f"{code}: {n}" for code, n in sorted(owner.statuses.items()))
    if terminalreporter.config.getoption("verbose") > 0:
        for operation, tally in sorted(owner.per_operation.items()):
            codes = ", ".join(f"{code}: {n}" for code, n in sorted(tally.items()))
            terminalreporter.write_line(f"  {operation}: {codes}")
    terminalreporter.write_line(
        f"fuzz: {len(owner.per_operation)} operations, {owner.cases} cases sent ({statuses})"
    )
