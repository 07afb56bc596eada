"""Walking paginated lists the way a client does: follow X-Next-Cursor until it stops."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

LINK_NEXT = re.compile(r'^<([^>]*)>;\s*rel="next"$')


def url(path: str, **params: Any) -> str:
    return f"{path}?{urlencode(params)}" if params else path


def next_link_params(link: str) -> dict[str, str]:
    """The query parameters of an RFC 8288 `Link: <...>; rel="next"` header."""
    match = LINK_NEXT.match(link)
    assert match, f"not a rel=next link: {link!r}"
    return {k: v[0] for k, v in parse_qs(urlsplit(match.group(1)).query).items()}


def walk(api: Any, path: str, max_pages: int = 100, **params: Any) -> tuple[list[dict[str, Any]], int]:
    """Every item of a paginated list, in order, and how many pages it took.

    Checks on the way that the two "next" headers come together, only while
    more remain, and that the Link header names the same cursor and query.
    """
    items: list[dict[str, Any]] = []
    query = dict(params)
    for page in range(1, max_pages + 1):
        r = api.get(url(path, **query))
        assert r.status == 200, r.text
        items.extend(r.json)
        cursor = r.headers.get("x-next-cursor")
        link = r.headers.get("link")
        if cursor is None:
            assert link is None, "Link without X-Next-Cursor"
            return items, page
        assert r.json, "a page with a next cursor must not be empty"
        assert link is not None, "X-Next-Cursor without Link"
        assert next_link_params(link) == {**{k: str(v) for k, v in params.items()}, "cursor": cursor}
        query = {**params, "cursor": cursor}
    raise AssertionError(f"more than {max_pages} pages")
