"""Honest answers for requests no view serves: 404 for unknown paths, 405 (with
Allow) for known paths asked with another method.

Registered last, from the table `api_route` filled. Without these routes API
Gateway (and `chalice local`, which mimics it) answers 403 "Missing
Authentication Token" and, locally, echoes the caller's Authorization header in
the body. On AWS the same routes exist; what they cannot catch (API Gateway
does not backtrack from a partly matched path to a catch-all) is answered by
the MISSING_AUTHENTICATION_TOKEN gateway response (infra/template.py), also a
404 `{"detail": "Not Found"}`.
"""

from __future__ import annotations

import re
from typing import Any

from chalice import Blueprint, Response  # type: ignore[attr-defined]

from chalicelib.http import ENDPOINTS, json_response

# Methods a client may try on a path; OPTIONS is answered by each path's preflight.
METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH")
# Unknown paths are caught up to this many segments (`chalice local` matches
# routes segment by segment, so a catch-all is needed per depth). Our deepest
# route has 5; deeper unknown paths get Chalice's own answer locally.
CATCH_ALL_DEPTH = 10
NOT_FOUND = {"detail": "Not Found"}
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def not_found() -> Response:
    return json_response(NOT_FOUND, 404)


def allowed_methods() -> dict[str, list[str]]:
    """Full path -> the methods its views serve (plus OPTIONS, the preflight)."""
    allowed: dict[str, set[str]] = {}
    for ep in ENDPOINTS:
        allowed.setdefault(ep.path, {"OPTIONS"}).add(ep.method)
    return {path: sorted(methods) for path, methods in allowed.items()}


def _method_not_allowed_view(path: str, allow: list[str]) -> Any:
    def method_not_allowed(**path_params: str) -> Response:
        # An id that is not a UUID names nothing (as in every view): the path is unknown.
        # That is how `POST /api/manifests/from-project` gets its 404.
        if not all(_UUID.match(value) for value in path_params.values()):
            return not_found()
        served = ", ".join(m for m in allow if m != "OPTIONS")
        return json_response(
            {"detail": f"Method Not Allowed: {path} serves {served}"},
            405,
            {"Allow": ", ".join(allow)},
        )

    method_not_allowed.__name__ = f"method_not_allowed_{re.sub(r'[^a-zA-Z0-9]+', '_', path).strip('_')}"
    method_not_allowed.__not_an_operation__ = True  # type: ignore[attr-defined]
    return method_not_allowed


def _catch_all_view(depth: int) -> Any:
    def unknown_route(**_segments: str) -> Response:
        return not_found()

    unknown_route.__name__ = f"unknown_route_{depth}"
    unknown_route.__not_an_operation__ = True  # type: ignore[attr-defined]
    return unknown_route


def blueprint() -> Blueprint:
    """Build after every route module is imported (ENDPOINTS is complete)."""
    bp = Blueprint(__name__)
    for path, allow in allowed_methods().items():
        missing = [m for m in METHODS if m not in allow]
        if missing:
            bp.route(path, methods=missing, content_types=["*/*"])(_method_not_allowed_view(path, allow))
    for depth in range(1, CATCH_ALL_DEPTH + 1):
        path = "".join(f"/{{p{i}}}" for i in range(1, depth + 1))
        bp.route(path, methods=[*METHODS, "OPTIONS"], content_types=["*/*"])(_catch_all_view(depth))
    return bp
