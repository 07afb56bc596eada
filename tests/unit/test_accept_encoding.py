"""Which Accept-Encoding headers let an answer go out gzip-compressed."""

from __future__ import annotations

import pytest

from chalicelib.http import accepts_gzip


@pytest.mark.parametrize(
    "header", ["gzip", "gzip, deflate, br", "br;q=1.0, gzip;q=0.8", "*", "identity, *;q=0.5", "GZIP"]
)
def test_gzip_is_accepted(header):
    assert accepts_gzip(header)


@pytest.mark.parametrize(
    "header", [None, "", "identity", "br, deflate", "gzip;q=0", "gzip;q=0.0", "gzip;q=x"]
)
def test_gzip_is_not_accepted(header):
    assert not accepts_gzip(header)
