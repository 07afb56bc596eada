"""vidpipe-manifests: the Chalice app. Wiring only; the logic lives in chalicelib."""

from __future__ import annotations

from typing import Any

from chalice import Chalice

from chalicelib import config
from chalicelib.http import add_standard_headers, normalize_error_body
from chalicelib.routes import assets, manifests, projects, system

app = Chalice(app_name="vidpipe-manifests")
app.debug = False  # never send tracebacks, whatever the stage

for blueprint in (system.bp, manifests.bp, assets.bp, projects.bp):
    app.register_blueprint(blueprint, url_prefix="/api")


@app.middleware("http")
def standard_headers(event: Any, get_response: Any) -> Any:
    response = get_response(event)
    return add_standard_headers(event, normalize_error_body(response))


@app.schedule("rate(10 minutes)")
def sweep_abandoned_duplicates(event: Any) -> dict[str, int]:
    from chalicelib import services

    return {"swept": services.manifests().sweep_abandoned_duplicates()}


__all__ = ["app", "config"]
