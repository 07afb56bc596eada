"""Opaque, tamper-proof pagination cursors.

A cursor carries the DynamoDB key to resume from, bound to the owner and to
the query it came from, and signed with HMAC-SHA256 under a stage secret. A
cursor from another owner, another query, or edited by hand is refused (400).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from chalicelib import config
from chalicelib.errors import BadRequestError


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(body: bytes) -> bytes:
    return hmac.new(config.cursor_secret(), body, hashlib.sha256).digest()


def encode(key: dict[str, Any], owner_id: str, scope: str) -> str:
    body = json.dumps({"k": key, "o": owner_id, "s": scope}, separators=(",", ":")).encode()
    return f"{_b64(body)}.{_b64(_mac(body))}"


def decode(cursor: str, owner_id: str, scope: str) -> dict[str, Any]:
    try:
        body_part, mac_part = cursor.split(".", 1)
        body = _unb64(body_part)
        mac = _unb64(mac_part)
    except (ValueError, TypeError) as exc:
        raise BadRequestError("Invalid cursor") from exc
    if not hmac.compare_digest(mac, _mac(body)):
        raise BadRequestError("Invalid cursor")
    payload = json.loads(body)
    if payload.get("o") != owner_id or payload.get("s") != scope:
        raise BadRequestError("Cursor does not belong to this query")
    key = payload.get("k")
    if not isinstance(key, dict):
        raise BadRequestError("Invalid cursor")
    return key
