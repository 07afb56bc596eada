"""GET /api/docs: Swagger UI over /api/openapi.json, served from the
swagger-ui-bundle package (no CDN, so it works offline on `make run`).

Only the two files the page needs are served (about 1.2 MB of the package's
8.6 MB; the zip grows by the package, ~2.6 MB compressed). These are pages for
people, not API operations, so they stay out of the OpenAPI document.
"""

from __future__ import annotations

import functools
from typing import Any

from chalice import Blueprint, Response  # type: ignore[attr-defined]

bp = Blueprint(__name__)

ASSETS = {
    "swagger-ui.css": "text/css; charset=utf-8",
    "swagger-ui-bundle.js": "application/javascript; charset=utf-8",
}
# Relative URLs: the page is /api/docs locally and /<stage>/api/docs on AWS.
PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>vidpipe-manifests API</title>
<link rel="stylesheet" href="docs/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="docs/swagger-ui-bundle.js"></script>
<script>
window.ui = SwaggerUIBundle({url: "openapi.json", dom_id: "#swagger-ui", deepLinking: true});
</script>
</body>
</html>
"""


@functools.cache
def _asset(name: str) -> str:
    from swagger_ui_bundle import swagger_ui_path

    return (swagger_ui_path / name).read_text(encoding="utf-8")


def _not_an_operation(view: Any) -> Any:
    view.__not_an_operation__ = True
    return view


@bp.route("/docs", methods=["GET"])
@_not_an_operation
def docs_page() -> Response:
    return Response(body=PAGE, status_code=200, headers={"Content-Type": "text/html; charset=utf-8"})


def _asset_view(name: str, content_type: str) -> Any:
    def view() -> Response:
        return Response(
            body=_asset(name),
            status_code=200,
            # Versioned by the package pin: a day of caching is safe.
            headers={"Content-Type": content_type, "Cache-Control": "public, max-age=86400"},
        )

    view.__name__ = "docs_" + name.replace("-", "_").replace(".", "_")
    return _not_an_operation(view)


for _name, _type in ASSETS.items():
    bp.route(f"/docs/{_name}", methods=["GET"])(_asset_view(_name, _type))
