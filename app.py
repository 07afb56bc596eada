"""vidpipe-manifests: the Chalice app. Wiring only; the logic lives in chalicelib."""

from __future__ import annotations

import logging
import time
from typing import Any

from chalice import Chalice

from chalicelib import config, observability
from chalicelib.http import (
    add_request_id,
    add_standard_headers,
    fit_response,
    normalize_error_body,
    request_id_for,
)
from chalicelib.routes import assets, docs, fallback, manifests, projects, system, uploads, versions

app = Chalice(app_name="vidpipe-manifests")
app.debug = False  # never send tracebacks, whatever the stage
app.log.setLevel(logging.INFO)
# The multipart upload route reads raw bytes; API Gateway base64-encodes them.
app.api.binary_types.append("multipart/form-data")

for blueprint in (system.bp, docs.bp, manifests.bp, assets.bp, projects.bp, uploads.bp, versions.bp):
    app.register_blueprint(blueprint, url_prefix="/api")
# Last: 404 for unknown paths, 405 + Allow for known paths with another method.
app.register_blueprint(fallback.blueprint())


observability.configure()


@app.middleware("http")
def standard_headers(event: Any, get_response: Any) -> Any:
    started = time.perf_counter()
    request_id = request_id_for(event)
    response = add_standard_headers(event, normalize_error_body(get_response(event)))
    response = fit_response(event, add_request_id(response, request_id))  # gzip when accepted
    observability.log_request(event, response.status_code, started, request_id)
    return response


@app.schedule("rate(10 minutes)")
def sweep_abandoned_duplicates(event: Any) -> dict[str, int]:
    from chalicelib import services

    return {"swept": services.manifests().sweep_abandoned_duplicates()}


@app.schedule("rate(15 minutes)")
def sweep_expired_uploads(event: Any) -> dict[str, int]:
    """Image objects nobody will show: expired uploads, and released images
    whose releasing request died before deleting them."""
    from chalicelib import services

    return {
        "swept": services.uploads().sweep_expired(),
        "released_images": services.images().sweep_released(),
    }


# The queue name must be known when Chalice packages the app (decorator
# argument), so it is the one setting read at import time.
@app.on_sqs_message(queue=config.upload_queue_name(), batch_size=10)
def on_upload_event(event: Any) -> dict[str, Any]:
    """S3 ObjectCreated -> SQS: attach uploads nobody completed. Reports partial
    batch failures, so only failed messages are retried (then dead-lettered)."""
    from chalicelib import upload_events

    return upload_events.handle_batch(event.to_dict(), event.context)
