"""vidpipe-manifests: the Chalice app. Wiring only; the logic lives in chalicelib."""

from __future__ import annotations

import logging
import time
from typing import Any

from chalice import Chalice

from chalicelib import config, observability
from chalicelib.http import add_standard_headers, normalize_error_body
from chalicelib.routes import assets, manifests, projects, system, uploads

app = Chalice(app_name="vidpipe-manifests")
app.debug = False  # never send tracebacks, whatever the stage
app.log.setLevel(logging.INFO)
# The multipart upload route reads raw bytes; API Gateway base64-encodes them.
app.api.binary_types.append("multipart/form-data")

for blueprint in (system.bp, manifests.bp, assets.bp, projects.bp, uploads.bp):
    app.register_blueprint(blueprint, url_prefix="/api")


observability.configure()


@app.middleware("http")
def standard_headers(event: Any, get_response: Any) -> Any:
    started = time.perf_counter()
    response = add_standard_headers(event, normalize_error_body(get_response(event)))
    observability.log_request(event, response.status_code, started)
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
def on_upload_event(event: Any) -> None:
    """S3 ObjectCreated -> SQS: verify and attach uploads whose client never
    called upload-complete. Failures raise, so SQS retries and then dead-letters."""
    import json
    from urllib.parse import unquote_plus

    from chalicelib import services

    for message in event:
        body = json.loads(message.body)
        for record in body.get("Records", []):
            key = unquote_plus(record["s3"]["object"]["key"])
            outcome = services.uploads().handle_object_created(key)
            app.log.info("upload event %s: %s", key, outcome)
