from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.http import api_route
from chalicelib.schemas import Health

bp = Blueprint(__name__)


@api_route(
    bp, "/health", "GET", summary="Readiness check", response=Health, auth_required=False, errors=(503,)
)
def health() -> Health:
    from chalicelib.services import health as health_service

    health_service.check()
    return Health(status="ok")


@api_route(bp, "/openapi.json", "GET", summary="This API's OpenAPI 3.1 document", auth_required=False)
def openapi() -> dict[str, Any]:
    from chalicelib import openapi as openapi_doc

    return openapi_doc.document()
